import gc

from nubo.kit.gctune import THRESHOLDS, tune_after_startup


def test_tuning_freezes_the_startup_heap_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        tune_after_startup(True)
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_tuning_off_leaves_the_collector_as_it_was():
    before = gc.get_threshold()
    tune_after_startup(False)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
