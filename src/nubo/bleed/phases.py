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


def _signals(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Smoothed airspeed and altitude, and weight on wheels when it is recorded often
    enough, all gap-filled. The filling is one Polars query for the three (each eager call
    on a Series is a query of its own, whose fixed cost outweighs the work on 1 Hz data)."""
    exprs = [_gap_filled("cas_kt"), _gap_filled("alt_std_ft")]
    if "wow" in df.columns and df["wow"].null_count() < 0.2 * df.height:
        exprs.append(pl.col("wow").forward_fill().backward_fill().fill_null(0))
    out = [s.to_numpy() for s in df.select(exprs)]
    wow = out[2] if len(out) > 2 else None
    return _rolling_median(out[0], 5), _rolling_median(out[1], 9), wow


def _gap_filled(col: str) -> pl.Expr:
    return pl.col(col).interpolate().forward_fill().backward_fill().fill_null(0.0)


def _rolling_median(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving median over an odd `window`, fewer values at the ends.

    The values of Polars' `rolling_median(window, min_samples=1, center=True)` on gap-free
    data, including its midpoint for the even counts at the ends, but a few vectorised
    min/max passes instead of a sort per window (a tenth of the time).
    """
    h, n = window // 2, x.size
    out = np.empty(n)
    if n > 2 * h:
        # Odd-even transposition sort across the window's shifted copies: after `window`
        # passes of compare-exchange, copy k holds the k-th smallest of every window.
        cols = [x[i : n - 2 * h + i] for i in range(window)]
        for p in range(window):
            for i in range(p % 2, window - 1, 2):
                lo, hi = np.minimum(cols[i], cols[i + 1]), np.maximum(cols[i], cols[i + 1])
                cols[i], cols[i + 1] = lo, hi
        out[h : n - h] = cols[h]
    for i in {*range(min(h, n)), *range(max(n - h, 0), n)}:
        part = np.sort(x[max(i - h, 0) : i + h + 1])
        lo, hi = part[(part.size - 1) // 2], part[part.size // 2]
        out[i] = lo + (hi - lo) * 0.5  # Polars' linear interpolation; exact when lo is hi
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, end) index runs where mask is True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _airborne(wow: np.ndarray | None, cas: np.ndarray) -> np.ndarray:
    air = wow < 0.5 if wow is not None else cas > AIRBORNE_CAS_KT
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
    cas, alt, wow = _signals(df)
    air_runs = _runs(_airborne(wow, cas))
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
