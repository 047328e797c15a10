"""The words the panel puts on the model's codes."""

from nubo.bleed.model import CHANNELS
from nubo.web import words


def test_every_residual_channel_of_the_model_has_a_title():
    # The aircraft page titled the asymmetry charts with their raw keys ("asym_press").
    assert set(CHANNELS) <= set(words.CHANNELS)
