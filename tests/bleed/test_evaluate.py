"""The evaluation's promises on a small fleet unlike the one the model was fitted on:
engines offset by up to ±3 psi and ±15 °C, noise doubled."""

from __future__ import annotations

from nubo.bleed.evaluate import evaluate
from nubo.bleed.simulate import FleetStyle, simulate_fleet


def test_an_offset_noisy_fleet_is_coherent_scores_healthy_engines_high_and_detects(tmp_path):
    style = FleetStyle(press_span=3, temp_span=15, noise=2, healthy_share=0.5)
    simulate_fleet(
        tmp_path, aircraft=4, flights=16, seed=21, hours=(0.6, 0.7), rates_hz=(1,), style=style
    )
    report = evaluate(tmp_path)
    assert report["coherence_violations"] == 0
    assert report["false_alerts_per_1000"] == 0
    assert report["healthy_scores"]["min"] >= 90
    assert all(r["detection_rate"] == 1.0 for r in report["fault_types"].values())
