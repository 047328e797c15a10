import json

import pytest

from nubo.bleed.model import FINDING_CODES, load_artefact
from nubo.bleed.pipeline import analyze
from nubo.bleed.simulate import Fault

from .conftest import flight


def _result(write, fault=None, **kw):
    return analyze(write(flight(fault, **kw)))


def _codes(result, engine=None):
    return {(f["code"], f["severity"]) for f in result.findings if engine in (None, f["engine"])}


def test_shipped_artefact_has_a_version_and_is_small():
    art = load_artefact()
    assert art.model_version.startswith("bleed-")
    assert art.trained_on.get("healthy_flights", 0) > 100  # the fitted one, not the fallback
    assert len(json.dumps(art.to_dict())) < 10_000


def test_healthy_flight_is_normal_with_high_integrity(write):
    r = _result(write)
    assert r.bleed_status == "normal"
    assert r.findings == []
    assert r.integrity_score >= 90
    assert set(r.engine_scores) == {1, 2}


def test_prv_stuck_open_is_overpressure_alert(write):
    r = _result(write, Fault("prv_stuck_open", 0.8, 1))
    assert r.bleed_status == "alert"
    assert ("overpressure", "alert") in _codes(r, 1)
    assert r.engine_scores[1] < r.engine_scores[2]


def test_prv_under_regulating_is_low_pressure(write):
    r = _result(write, Fault("prv_under_regulating", 0.6, 2))
    assert "low_pressure" in {c for c, _ in _codes(r, 2)}


def test_hpv_stuck_closed_is_hpv_fault(write):
    r = _result(write, Fault("hpv_stuck_closed", 0.8, 1))
    assert "hpv_fault" in {c for c, _ in _codes(r, 1)}


def test_precooler_fouling_is_precooler_degradation_then_overtemperature(write, learned_state):
    mid = analyze(write(flight(Fault("precooler_fouling", 0.4, 1))), trend_state=learned_state)
    assert "precooler_degradation" in {c for c, _ in _codes(mid, 1)}
    late = _result(write, Fault("precooler_fouling", 1.0, 1))
    assert ("overtemperature", "alert") in _codes(late, 1)


def test_severe_duct_leak_is_a_leak_alert_with_recorded_warning(write):
    r = _result(write, Fault("duct_leak", 0.95, 2))
    assert ("leak", "alert") in _codes(r, 2)
    assert ("recorded_warning", "alert") in _codes(r, 2)


@pytest.mark.parametrize("kind", ["sensor_freeze", "sensor_drift"])
def test_sensor_faults_are_sensor_fault(write, kind):
    r = _result(write, Fault(kind, 0.5, 1))
    assert "sensor_fault" in {c for c, _ in _codes(r, 1)}


def test_every_finding_code_is_one_of_the_spec(write):
    for kind in ("prv_stuck_open", "duct_leak", "sensor_drift", "precooler_fouling"):
        r = _result(write, Fault(kind, 1.0, 1))
        assert {f["code"] for f in r.findings} <= set(FINDING_CODES)
        assert all(f["severity"] in ("watch", "alert") for f in r.findings)
