import json
import string

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nubo.bleed.errors import ERROR_CODES, FlightDataError
from nubo.bleed.pipeline import AnalysisResult, analyze, json_safe
from nubo.bleed.trend import update_trend

from .conftest import flight

SHORT = flight(seed=3).head(2400)


def test_result_dict_has_the_spec_fields_and_is_strict_json(write):
    d = analyze(write(flight())).to_dict()
    for key in (
        "bleed_status",
        "integrity_score",
        "engine_scores",
        "findings",
        "phases",
        "model_version",
        "warnings",
        "masked_share",
        "stats",
    ):
        assert key in d
    json.dumps(d, allow_nan=False)
    assert d["stats"]["rows_read"] == d["stats"]["rows_used"] == flight().height


def test_features_frame_has_one_row_per_engine_and_phase(write):
    r = analyze(write(flight()))
    assert isinstance(r, AnalysisResult)
    assert r.features.height == 2 * len(r.phases)
    assert set(r.features["engine"].to_list()) == {1, 2}


def test_trend_state_is_threaded_through_analyze(write):
    path = write(flight())
    first = analyze(path)
    second = analyze(path, trend_state=first.new_trend_state)
    assert second.new_trend_state["flights"] == 2
    expected, _, _ = update_trend(first.new_trend_state, second.residuals)
    assert expected == second.new_trend_state


def test_json_safe_replaces_nan_and_inf():
    assert json_safe({"a": float("nan"), "b": [float("inf"), 1.0]}) == {"a": None, "b": [None, 1.0]}


garbage = st.one_of(
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e400", "-", "null", '"', "9" * 30]),
    st.text(
        alphabet=string.printable.replace(",", "").replace("\n", "").replace("\r", ""), max_size=8
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=st.lists(
        st.tuples(st.integers(0, SHORT.height - 1), st.sampled_from(SHORT.columns), garbage),
        min_size=1,
        max_size=300,
    )
)
def test_arbitrary_garbage_cells_never_leak_nan_or_inf(write, cells):
    df = SHORT.cast(pl.String)
    columns = {c: df[c].to_list() for c in df.columns}
    for row, col, value in cells:
        columns[col][row] = value
    path = write(pl.DataFrame(columns))
    try:
        d = analyze(path).to_dict()
    except FlightDataError as exc:
        assert exc.code in ERROR_CODES
        return
    json.dumps(d, allow_nan=False)
    assert 0 <= d["integrity_score"] <= 100
