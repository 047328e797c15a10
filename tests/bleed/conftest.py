from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from nubo.bleed.simulate import Fault, simulate_flight, write_flight

_CACHE: dict[tuple, pl.DataFrame] = {}


def flight(
    fault: Fault | None = None, *, seed: int = 7, hours: float = 1.0, rate_hz: float = 1.0
) -> pl.DataFrame:
    """A short simulated flight, cached: simulation is deterministic per arguments."""
    key = (fault, seed, hours, rate_hz)
    if key not in _CACHE:
        _CACHE[key] = simulate_flight(seed=seed, duration_h=hours, rate_hz=rate_hz, fault=fault)
    return _CACHE[key]


@pytest.fixture
def healthy_df() -> pl.DataFrame:
    return flight()


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(10_000))

    def _write(df: pl.DataFrame, suffix: str = "csv", **opts) -> Path:
        fmt = opts.pop("fmt", suffix)
        return write_flight(df, tmp_path / f"f{next(counter)}.{suffix}", fmt=fmt, **opts)

    return _write


_LEARNED: dict[str, dict] = {}


@pytest.fixture
def learned_state(write: Callable[..., Path]) -> dict:
    """The trend of an aircraft whose engines have learned their references on five
    healthy flights (the same flight five times: its residuals are the engines' normal)."""
    if "state" not in _LEARNED:
        from nubo.bleed.pipeline import analyze

        state = None
        for _ in range(5):
            state = analyze(write(flight()), trend_state=state).new_trend_state
        _LEARNED["state"] = state
    return _LEARNED["state"]
