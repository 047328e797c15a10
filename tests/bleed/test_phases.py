from itertools import pairwise

import numpy as np
import polars as pl

from nubo.bleed.phases import PHASES, detect_phases
from nubo.bleed.read import read_flight

from .conftest import flight


def _names(phases):
    return [p["phase"] for p in phases]


def test_a_full_flight_has_all_eight_phases_in_order(write):
    phases = detect_phases(read_flight(write(flight())).data)
    assert _names(phases) == list(PHASES)
    for a, b in pairwise(phases):
        assert a["end_s"] == b["start_s"]
        assert a["start_s"] < a["end_s"]


def test_phases_are_found_without_a_weight_on_wheels_column(write):
    with_wow = detect_phases(read_flight(write(flight())).data)
    without = detect_phases(read_flight(write(flight().drop("wow"))).data)
    assert _names(without) == list(PHASES)
    for a, b in zip(with_wow, without, strict=True):
        assert abs(a["start_s"] - b["start_s"]) < 90


def test_phases_survive_noise_spikes_and_gaps(write):
    df = read_flight(write(flight(seed=11))).data
    rng = np.random.default_rng(0)
    n = df.height
    alt = df["alt_std_ft"].to_numpy().copy()
    cas = df["cas_kt"].to_numpy().copy()
    alt[rng.integers(0, n, 40)] += rng.normal(0, 5000, 40)
    cas[rng.integers(0, n, 40)] = 0.0
    gaps = rng.random(n) < 0.05
    df = df.with_columns(
        pl.Series("alt_std_ft", np.where(gaps, np.nan, alt), nan_to_null=True),
        pl.Series("cas_kt", np.where(gaps, np.nan, cas), nan_to_null=True),
    ).drop("wow")
    assert _names(detect_phases(df)) == list(PHASES)


def test_a_ground_run_is_a_single_taxi_phase(write):
    ground = flight().head(600)
    phases = detect_phases(read_flight(write(ground)).data)
    assert _names(phases) == ["taxi-out"]
