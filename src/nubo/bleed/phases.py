"""Flight-phase detection on the 1 Hz frame.

The anchors are the events that noisy data cannot blur: liftoff and touchdown (weight on
wheels, or airspeed when that is not recorded), the start and end of the ground roll
(airspeed crossing 40 kt), top of climb and top of descent (leaving and joining the
highest level band) and 3,000 ft above the landing runway.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TypedDict

import numpy as np
import polars as pl

PHASES = (
    "taxi-out",
    "takeoff",
    "climb",
    "cruise",
    "descent",
    "approach",
    "landing",
    "taxi-in",
)
AIRBORNE_CAS_KT = 100.0
ROLL_CAS_KT = 40.0
TAKEOFF_END_AGL_FT = 1500.0
APPROACH_AGL_FT = 3000.0
CRUISE_BAND_FT = 3000.0
LEVEL_FPM = 400.0
MIN_AIR_S = 60
MIN_GROUND_GAP_S = 30


class Phase(TypedDict):
    phase: str
    start_s: float
    end_s: float


def _filled(df: pl.DataFrame, col: str, window: int) -> np.ndarray:
    s = df[col].interpolate().forward_fill().backward_fill().fill_null(0.0)
    return s.rolling_median(window, min_samples=1, center=True).to_numpy()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, end) index runs where mask is True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _airborne(df: pl.DataFrame, cas: np.ndarray) -> np.ndarray:
    if "wow" in df.columns and df["wow"].null_count() < 0.2 * df.height:
        wow = df["wow"].forward_fill().backward_fill().fill_null(0).to_numpy()
        air = wow < 0.5
    else:
        air = cas > AIRBORNE_CAS_KT
    # Close brief ground blips (sensor dropouts) before dropping brief airborne blips.
    for s, e in _runs(~air):
        if s > 0 and e < air.size and e - s < MIN_GROUND_GAP_S:
            air[s:e] = True
    for s, e in _runs(air):
        if e - s < MIN_AIR_S:
            air[s:e] = False
    return air


def detect_phases(df: pl.DataFrame) -> list[Phase]:
    """Phases of a 1 Hz flight frame (`time_s`, `alt_std_ft`, `cas_kt`, optional `wow`)."""
    n = df.height
    if n == 0:
        return []
    t = df["time_s"].to_numpy().astype(float)
    cas = _filled(df, "cas_kt", 5)
    alt = _filled(df, "alt_std_ft", 9)
    air_runs = _runs(_airborne(df, cas))
    if not air_runs:
        return [Phase(phase="taxi-out", start_s=float(t[0]), end_s=float(t[-1]))]
    lift, touch = max(air_runs, key=lambda r: r[1] - r[0])
    touch -= 1
    cuts = _cuts(cas, alt, lift, touch, n)
    phases: list[Phase] = []
    for name, (a, b) in zip(PHASES, pairwise(cuts), strict=True):
        if b > a:
            phases.append(Phase(phase=name, start_s=float(t[a]), end_s=float(t[min(b, n - 1)])))
    return phases


def _cuts(cas: np.ndarray, alt: np.ndarray, lift: int, touch: int, n: int) -> list[int]:
    """Nine boundaries (indices) delimiting the eight phases, monotone non-decreasing."""
    slow_before = np.flatnonzero(cas[:lift] < ROLL_CAS_KT)
    roll_start = int(slow_before[-1]) + 1 if slow_before.size else 0
    slow_after = np.flatnonzero(cas[touch:] < ROLL_CAS_KT)
    roll_end = touch + int(slow_after[0]) if slow_after.size else n - 1

    field_alt = float(np.median(alt[max(lift - 10, 0) : lift + 1]))
    above = np.flatnonzero(alt[lift:touch] >= field_alt + TAKEOFF_END_AGL_FT)
    takeoff_end = lift + int(above[0]) if above.size else lift

    vs = np.gradient(_smooth(alt, 31)) * 60.0  # ft/min
    top = float(np.max(alt[lift : touch + 1]))
    band = (alt >= top - CRUISE_BAND_FT) & (np.abs(vs) < LEVEL_FPM)
    band[:takeoff_end] = False
    band[touch:] = False
    level = np.flatnonzero(band)
    peak = lift + int(np.argmax(alt[lift : touch + 1]))
    toc, tod = (int(level[0]), int(level[-1])) if level.size else (peak, peak)

    runway_alt = float(np.median(alt[touch : min(touch + 30, n)]))
    low = np.flatnonzero(alt[tod:touch] <= runway_alt + APPROACH_AGL_FT)
    approach_start = tod + int(low[0]) if low.size else touch

    cuts = [0, roll_start, takeoff_end, toc, tod, approach_start, touch, roll_end, n - 1]
    return list(np.maximum.accumulate(cuts))


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    kernel = np.ones(window) / window
    pad = window // 2
    return np.convolve(np.pad(x, pad, mode="edge"), kernel, mode="valid")


def phase_labels(n: int, phases: list[Phase]) -> np.ndarray:
    """Per-second index into PHASES (-1 outside every phase) for an n-row 1 Hz frame."""
    labels = np.full(n, -1, dtype=np.int8)
    for p in phases:
        labels[int(p["start_s"]) : int(p["end_s"]) + 1] = PHASES.index(p["phase"])
    return labels
