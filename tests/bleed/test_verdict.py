"""The verdict's promises: status and score agree, every flag is explained, coverage is
honest, and an incomplete recording neither claims a confident 100 nor moves the trend."""

from __future__ import annotations

import pytest

from nubo.bleed.model import load_artefact
from nubo.bleed.pipeline import analyze
from nubo.bleed.simulate import Fault
from nubo.bleed.verdict import band, coherence_violations, reconcile

from .conftest import flight


@pytest.mark.parametrize(
    ("score", "status"),
    [(100.0, "normal"), (75.0, "normal"), (74.9, "watch"), (40.0, "watch"), (39.9, "alert")],
)
def test_score_bands_are_normal_from_75_watch_from_40_alert_below(score, status):
    assert band(score) == status


def _residual(**kw):
    return {"press_res_ip": 0.0, "press_res_hp": 0.0, "temp_res_hi": 0.0, **kw}


def test_a_low_score_without_a_rule_raises_the_status_and_brings_its_own_finding():
    status, score, scores, findings = reconcile(
        [], {1: 47.9, 2: 99.0}, {1: {"press_res_ip": 5.5, "temp_res_hi": 0.3}, 2: {}},
        {1: _residual(press_res_ip=3.8), 2: _residual()}, {}, load_artefact(),
    )
    assert (status, score, scores[2]) == ("watch", 47.9, 99.0)
    [finding] = findings
    assert (finding["engine"], finding["code"], finding["severity"]) == (1, "overpressure", "watch")
    assert finding["evidence"]["channel"] == "press_res_ip"
    assert "Engine 1" in finding["message"] and "Motor 1" in finding["message_pt"]


def test_a_score_below_40_is_an_alert_and_an_alert_caps_the_score():
    status, score, _, findings = reconcile(
        [], {1: 0.2}, {1: {"temp_res_hi": 12.0}}, {1: _residual(temp_res_hi=30.0)}, {},
        load_artefact(),
    )
    assert (status, score) == ("alert", 0.2)
    assert findings[0]["severity"] == "alert"
    rule = {"engine": 2, "code": "leak", "severity": "alert", "message": "m", "evidence": {"x": 1}}
    status, score, scores, _ = reconcile(
        [rule], {1: 99.0, 2: 98.0}, {1: {}, 2: {}}, {1: {}, 2: {}}, {}, load_artefact()
    )
    assert (status, score, scores[2]) == ("alert", 39.9, 39.9)


def test_the_contradictions_users_saw_are_violations():
    watch_at_0_2 = {"bleed_status": "watch", "integrity_score": 0.2, "engine_scores": {"1": 0.2},
                    "findings": [{"engine": 1, "code": "overpressure", "severity": "watch",
                                  "message": "m", "evidence": {"r": 1}}]}
    normal_at_47_9 = {"bleed_status": "normal", "integrity_score": 47.9,
                      "engine_scores": {"1": 47.9}, "findings": []}
    assert coherence_violations(watch_at_0_2)
    assert len(coherence_violations(normal_at_47_9)) >= 2


def test_every_result_of_healthy_and_faulty_flights_is_coherent(write, learned_state):
    for fault in (None, Fault("prv_stuck_open", 0.5, 1), Fault("duct_leak", 0.95, 2),
                  Fault("sensor_freeze", 0.5, 1), Fault("precooler_fouling", 0.3, 2)):
        for state in (None, learned_state):
            result = analyze(write(flight(fault)), trend_state=state).to_dict()
            assert coherence_violations(result) == [], (fault, result["findings"])


def test_result_reports_what_it_could_assess(write):
    r = analyze(write(flight()))
    cov = r.coverage
    assert {"taxi-out", "climb", "cruise", "descent", "taxi-in"} <= set(cov["phases"])
    assert 20 < cov["airborne_min"] < 60
    assert cov["steady_min"]["1"]["ip"] > 5 and cov["steady_min"]["2"]["hp"] > 1
    assert "press_res_ip" in cov["assessed"]["1"]
    assert cov["frame_seconds"] == r.stats["duration_s"] + 1
    assert cov["rows_used"] == cov["rows_read"] == r.stats["rows_read"] > 0
    assert r.counts_for_trend and not any("incomplete-flight" in w for w in r.warnings)


def test_taxi_only_recording_is_incomplete_with_no_confident_score_and_no_trend_move(
    write, learned_state
):
    taxi = flight().head(200)  # 200 s of start-up and taxi-out, never airborne
    r = analyze(write(taxi), trend_state=learned_state)
    assert any(w.startswith("incomplete-flight") for w in r.warnings)
    assert r.coverage["airborne_min"] == 0
    assert r.integrity_score is None  # no verdict on a flight that was not seen
    assert "press_res_ip" not in r.coverage["assessed"]["1"]
    assert r.bleed_status == "normal" and r.findings == []
    assert r.new_trend_state == learned_state and not r.counts_for_trend
    assert coherence_violations(r.to_dict()) == []


def test_findings_are_written_in_english_and_portuguese(write, learned_state):
    r = analyze(write(flight(Fault("prv_stuck_open", 0.6, 1))), trend_state=learned_state)
    over = next(f for f in r.findings if f["code"] == "overpressure")
    assert over["message"].startswith("Engine 1: ")
    assert over["message_pt"].startswith("Motor 1: ")
    assert "psi" in over["message"] and "psi" in over["message_pt"]
