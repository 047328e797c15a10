"""Fitting the model artefact: baseline coefficients and healthy residual spreads."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge

from nubo.bleed.aliases import ENGINES
from nubo.bleed.baseline import NOMINAL, Baseline
from nubo.bleed.errors import FlightDataError
from nubo.bleed.features import compute_features, engine_seconds
from nubo.bleed.fleetdir import FlightFile, list_flights
from nubo.bleed.model import CHANNELS, SIGMA_FLOOR, WITHIN_FLOOR, Artefact
from nubo.bleed.phases import detect_phases
from nubo.bleed.read import read_flight

BASELINE_FLIGHTS = 80  # nine coefficients need far fewer; more only costs time
ROW_STRIDE = 5  # neighbouring seconds are nearly identical; thin them out


def _fit_baseline(flights: list[FlightFile], tick: Callable[[], None]) -> Baseline:
    xs_p, ys_p, xs_t, ys_t = [], [], [], []
    for f in flights[:BASELINE_FLIGHTS]:
        df = read_flight(f.path).data
        for e in ENGINES:
            sec = engine_seconds(df, e, NOMINAL)
            x = sec["x"]
            ok = np.isfinite(x).all(axis=1)
            mp = ok & sec["steady_p"] & np.isfinite(sec["press"])
            mt = ok & sec["steady_t"] & np.isfinite(sec["temp"])
            xs_p.append(x[mp][::ROW_STRIDE])
            ys_p.append(sec["press"][mp][::ROW_STRIDE])
            xs_t.append(x[mt][::ROW_STRIDE])
            ys_t.append(sec["temp"][mt][::ROW_STRIDE])
        tick()
    press = Ridge(alpha=1.0, fit_intercept=False).fit(np.vstack(xs_p), np.concatenate(ys_p))
    temp = Ridge(alpha=1.0, fit_intercept=False).fit(np.vstack(xs_t), np.concatenate(ys_t))
    return Baseline(
        tuple(round(float(c), 5) for c in press.coef_),
        tuple(round(float(c), 5) for c in temp.coef_),
    )


def _robust_sd(values: list[float]) -> float:
    med = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - med) for v in values)


def fit_artefact(data_dir: Path, progress: Callable[[], None] | None = None) -> Artefact:
    tick = progress or (lambda: None)
    healthy = [f for f in list_flights(data_dir) if f.healthy]
    if len(healthy) < 10:
        raise ValueError(f"need at least 10 healthy flights to train, found {len(healthy)}")
    baseline = _fit_baseline(healthy, tick)
    provisional = Artefact(baseline, dict.fromkeys(CHANNELS, 0.0), SIGMA_FLOOR, WITHIN_FLOOR)
    per_engine: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    used = 0
    for f in healthy:
        try:
            flight = read_flight(f.path)
        except FlightDataError:
            continue
        used += 1
        feats = compute_features(
            flight.data, detect_phases(flight.data), provisional.baseline, flight.masked_share
        )
        for e, s in feats.summary.items():
            for c in CHANNELS:
                v = s.get(c)
                if v is not None and np.isfinite(v):
                    per_engine[(f.aircraft, e)][c].append(float(v))
        tick()
    center, sigma, within = {}, {}, {}
    for c in CHANNELS:
        values = [v for d in per_engine.values() for v in d[c]]
        center[c] = round(statistics.median(values), 4) if values else 0.0
        sigma[c] = round(
            max(_robust_sd(values), SIGMA_FLOOR[c]) if len(values) > 5 else SIGMA_FLOOR[c], 4
        )
        spreads = [_robust_sd(d[c]) for d in per_engine.values() if len(d[c]) >= 5]
        within[c] = round(
            max(statistics.median(spreads), WITHIN_FLOOR[c]) if spreads else WITHIN_FLOOR[c], 4
        )
    return Artefact(
        baseline,
        center,
        sigma,
        within,
        trained_on={
            "healthy_flights": used,
            "engines": len(per_engine),
            "baseline_flights": min(len(healthy), BASELINE_FLIGHTS),
        },
    )
