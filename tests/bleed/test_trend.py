import copy
import json

import numpy as np

from nubo.bleed.trend import update_trend


def _flight(rng, press_shift=0.0, temp_shift=0.0):
    def eng(shift_p, shift_t):
        return {
            "press_res_ip": 0.3 + shift_p + rng.normal(0, 0.15),
            "press_res_hp": -0.2 + rng.normal(0, 0.2),
            "temp_res_hi": 2.0 + shift_t + rng.normal(0, 0.8),
            "temp_res_lo": 1.0 + rng.normal(0, 0.8),
            "press_off": 0.3 + rng.normal(0, 0.05),
            "asym_press": None,
        }

    return {1: eng(press_shift, temp_shift), 2: eng(0.0, 0.0)}


def test_state_is_json_serialisable_and_the_input_is_not_mutated():
    rng = np.random.default_rng(0)
    state, _, _ = update_trend(None, _flight(rng))
    before = copy.deepcopy(state)
    new, _, _ = update_trend(state, _flight(rng))
    assert state == before
    assert new["flights"] == 2
    assert json.loads(json.dumps(new, allow_nan=False)) == new


def test_a_steady_engine_stays_normal_for_hundreds_of_flights():
    rng = np.random.default_rng(1)
    state = None
    for _ in range(300):
        state, findings, status = update_trend(state, _flight(rng))
        assert status == "normal", findings


def test_slow_temperature_drift_raises_watch_before_it_reaches_a_rule_limit():
    rng = np.random.default_rng(2)
    state, first_watch = None, None
    for k in range(60):
        shift = max(0, k - 10) * 0.5  # +0.5 °C per flight, reaches the 15 °C rule at k=40
        state, findings, status = update_trend(state, _flight(rng, temp_shift=shift))
        if status == "watch" and first_watch is None:
            first_watch = k
            assert findings[0]["engine"] == 1
            assert findings[0]["code"] == "precooler_degradation"
    assert first_watch is not None and first_watch < 35


def test_missing_channels_are_skipped():
    _, findings, status = update_trend(None, {1: {"press_res_ip": None}, 2: {}})
    assert status == "normal" and findings == []


def test_resetting_an_engine_after_maintenance_forgets_its_drift():
    from nubo.bleed.trend import reset_engine

    rng = np.random.default_rng(3)
    state = None
    for k in range(40):
        state, _, status = update_trend(state, _flight(rng, press_shift=0.2 * max(0, k - 8)))
    assert status == "watch"
    state = reset_engine(state, 1)
    assert "1" not in state["engines"] and "2" in state["engines"]
    for _ in range(10):
        state, findings, status = update_trend(state, _flight(rng, press_shift=6.4))
    assert status == "normal", findings


def test_a_sustained_fall_of_the_score_raises_watch_while_each_flight_stays_normal():
    rng = np.random.default_rng(4)
    state, first_watch = None, None
    for k in range(40):
        flight = _flight(rng)
        flight[1]["score"] = 99.0 - max(0, k - 10) * 1.5  # 99 → 75.0 at k = 26: still normal
        state, findings, status = update_trend(state, flight)
        if status == "watch" and first_watch is None:
            first_watch = k
            score = next(f for f in findings if f["evidence"]["channel"] == "score")
            assert score["engine"] == 1 and score["evidence"]["trend_shift"] < -10
            assert "Motor 1" in score["message_pt"]
    assert first_watch is not None and first_watch < 26


def test_references_are_learned_only_from_flights_without_findings():
    from nubo.bleed.trend import references

    rng = np.random.default_rng(5)
    state = None
    for k in range(8):
        flight = _flight(rng, press_shift=8.0 if k < 3 else 0.0)
        flight[1]["flagged"] = 1.0 if k < 3 else 0.0
        state, _, _ = update_trend(state, flight)
    refs = references(state)
    assert abs(refs[1]["press_res_ip"] - 0.3) < 0.3  # the three flagged flights were left out
    assert "press_res_ip" in refs[2]


def test_the_history_restarts_an_engines_reference_where_it_was_reset():
    from nubo.bleed.model import NOMINAL_ARTEFACT
    from nubo.bleed.trend import channel_history

    flight = {e: {"press_res_ip": 0.2, "score": 97.0, "flagged": 0.0} for e in ("1", "2")}
    flights = [flight] * 16
    plain = channel_history(flights, NOMINAL_ARTEFACT)
    reset = channel_history(flights, NOMINAL_ARTEFACT, {8: ["1"]})
    ewma_1, ewma_2 = reset["1"]["press_res_ip"]["ewma"], reset["2"]["press_res_ip"]["ewma"]
    before = plain["1"]["press_res_ip"]["ewma"]
    learning = next(i for i, v in enumerate(before) if v is not None)
    assert 0 < learning < 8
    assert ewma_1[:8] == before[:8]
    assert ewma_1[8 : 8 + learning] == [None] * learning  # learning its new reference again
    assert ewma_1[8 + learning] is not None
    assert ewma_2 == plain["2"]["press_res_ip"]["ewma"]  # the other engine carries on
