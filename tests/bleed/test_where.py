import numpy as np
import pytest

from nubo.bleed.phases import PHASES, Phase
from nubo.bleed.pipeline import analyze
from nubo.bleed.simulate import Fault
from nubo.bleed.where import place_findings

from .conftest import flight

_RESULTS: dict[Fault, object] = {}


@pytest.fixture
def analysed(write):
    def _analysed(fault: Fault):
        if fault not in _RESULTS:
            _RESULTS[fault] = (analyze(write(flight(fault))), flight(fault))
        return _RESULTS[fault]

    return _analysed


def _one(result, code):
    return next(f for f in result.findings if f["code"] == code)


def test_overpressure_spans_the_seconds_above_60_psi(analysed):
    result, df = analysed(Fault("prv_stuck_open", 1.0))
    finding = _one(result, "overpressure")
    press = df["eng1_bleed_press_psi"].to_numpy()
    above = np.flatnonzero(press > 60)
    assert finding["start_s"] <= above[0] + 1 and finding["end_s"] >= above[-1] - 1
    assert finding["seconds"] == finding["evidence"]["over_s"]
    assert finding["phase"] == "climb"


def test_a_frozen_sensor_is_placed_on_its_frozen_run(analysed):
    result, _ = analysed(Fault("sensor_freeze", 1.0))
    finding = _one(result, "sensor_fault")
    assert finding["end_s"] - finding["start_s"] + 1 == finding["evidence"]["press_frozen_s"]


def test_a_recorded_leak_warning_is_placed_where_it_was_recorded(analysed):
    result, df = analysed(Fault("duct_leak", 1.0))
    finding = _one(result, "leak")
    warned = df["time_s"].to_numpy()[df["eng1_bleed_leak"].to_numpy() >= 0.5]
    assert finding["start_s"] == pytest.approx(warned[0], abs=1)
    assert finding["end_s"] == pytest.approx(warned[-1], abs=1)


def test_every_finding_lies_inside_the_flight_and_names_a_phase(analysed):
    for fault in (Fault("precooler_fouling", 1.0, 2), Fault("hpv_stuck_closed", 1.0)):
        result, df = analysed(fault)
        assert result.findings
        for f in result.findings:
            assert 0 <= f["start_s"] <= f["end_s"] <= df["time_s"].max()
            assert 0 < f["seconds"] <= f["end_s"] - f["start_s"] + 1
            assert f["phase"] in PHASES


def test_a_finding_that_cannot_be_placed_keeps_nulls():
    time = np.arange(100.0)
    phases = [Phase(phase="cruise", start_s=0.0, end_s=99.0)]
    findings = [
        {"engine": None, "code": "asymmetry", "evidence": {"difference": 7.0}},
        {"engine": 1, "code": "overpressure", "evidence": {"unknown": 1.0}},
    ]
    placed = place_findings(findings, {}, phases, time)
    for f in placed:
        assert (f["start_s"], f["end_s"], f["seconds"], f["phase"]) == (None, None, None, None)
