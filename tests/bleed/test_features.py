"""The numpy kernels of the feature and phase code give what the Polars expressions they
stand in for give (values, nulls, dtypes), including on awkward inputs."""

from itertools import pairwise

import numpy as np
import polars as pl
import pytest

from nubo.bleed.features import (
    _TABLE,
    FROZEN_ALWAYS_S,
    FROZEN_MIN_N2_RANGE,
    _aggregate,
    _phase_groups,
    _phase_table,
    _rolling_mean,
    _table_frame,
    frozen_seconds,
)
from nubo.bleed.phases import PHASES, _rolling_median


def _polars_phase_table(per_second: dict[str, np.ndarray], labels: np.ndarray) -> pl.DataFrame:
    """The phase table as a Polars group_by, the reference for `_phase_table`."""
    aggs = {
        "count": lambda c: pl.col(c).sum(),
        "mean": lambda c: pl.col(c).mean(),
        "std": lambda c: pl.col(c).std(),
        "max": lambda c: pl.col(c).max(),
        "switches": lambda c: (pl.col(c).diff().abs() > 0.5).sum(),
    }
    frame = pl.DataFrame(
        [pl.Series("phase", labels)]
        + [pl.Series(k, v, nan_to_null=True) for k, v in per_second.items()]
    )
    return (
        frame.filter(pl.col("phase") >= 0)
        .group_by("phase", maintain_order=True)
        .agg(
            pl.len().alias("seconds"),
            *(aggs[how](src).alias(out) for out, (how, src) in _TABLE.items()),
        )
        .with_columns(
            pl.lit(1, dtype=pl.Int8).alias("engine"),
            pl.col("phase").cast(pl.Int64).replace_strict(list(range(len(PHASES))), list(PHASES)),
        )
        .select("engine", pl.exclude("engine"))
    )


def _per_second(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    sources = {src for _, src in _TABLE.values()}
    out = {}
    for name in sorted(sources):
        if name in ("active", "above_band", "below_band", "over", "temp_high", "temp_shut"):
            out[name] = rng.random(n) < 0.6
        elif name.startswith("w_"):
            out[name] = rng.random(n) < 0.05
        else:
            x = np.round(rng.normal(40, 5, n), 3)
            x[rng.random(n) < 0.2] = np.nan
            if name == "hpv_open":
                x = np.where(np.isnan(x), np.nan, (x > 40).astype(float))
            out[name] = x
    out["press"][:50] = 45.0  # a constant stretch: standard deviation exactly 0
    return out


def _labels_contiguous(n: int) -> np.ndarray:
    """Consecutive runs, as `phase_labels` makes them: seconds outside at both ends and a
    one-second takeoff."""
    labels = np.full(n, -1, dtype=np.int8)
    cuts = [5, 60, 61, 150, 300, 420, 500, 560, n - 5]
    for k, (a, b) in enumerate(pairwise(cuts)):
        labels[a:b] = k
    return labels


@pytest.mark.parametrize(
    "labels",
    [
        _labels_contiguous(600),
        # Phases out of order, split into several runs, some seconds outside every phase.
        np.random.default_rng(3).integers(-1, len(PHASES), 600).astype(np.int8),
        np.array([2, 2, 2, 0, 0, 2, 2, -1, 5], dtype=np.int8),
        np.full(40, -1, dtype=np.int8),
    ],
)
def test_phase_table_equals_the_polars_group_by(labels):
    rng = np.random.default_rng(labels.size)
    per_second = _per_second(rng, labels.size)
    got = _table_frame([_phase_table(per_second, _phase_groups(labels), 1)])
    expected = _polars_phase_table(per_second, labels)
    assert got.schema == expected.schema
    assert got.height == expected.height
    for name in got.columns:
        a, b = got[name], expected[name]
        assert a.is_null().to_list() == b.is_null().to_list(), name
        if a.dtype == pl.Float64:
            np.testing.assert_allclose(
                a.drop_nulls().to_numpy(), b.drop_nulls().to_numpy(), rtol=1e-12, atol=0
            )
        else:
            assert a.to_list() == b.to_list(), name


def test_the_standard_deviation_of_a_constant_phase_is_exactly_zero():
    groups = _phase_groups(np.zeros(20, dtype=np.int8))
    assert _aggregate("std", np.full(20, 45.123), groups).tolist() == [0.0]


@pytest.mark.parametrize("n", [1, 2, 7, 15, 16, 300])
def test_rolling_mean_equals_polars(n):
    rng = np.random.default_rng(n)
    x = rng.normal(45, 2, n)
    x[rng.random(n) < 0.3] = np.nan
    x[: min(n, 20) // 2] = np.nan  # a gap longer than half a window: no value at all
    expected = (
        pl.Series(x, nan_to_null=True)
        .rolling_mean(15, min_samples=1, center=True)
        .fill_null(np.nan)
        .to_numpy()
    )
    np.testing.assert_allclose(_rolling_mean(x, 15), expected, rtol=1e-13, atol=0)


@pytest.mark.parametrize("window", [1, 3, 5, 9])
@pytest.mark.parametrize("n", [1, 2, 4, 8, 9, 10, 500])
def test_rolling_median_is_identical_to_polars(window, n):
    rng = np.random.default_rng(n * window)
    x = np.round(rng.normal(0, 3000, n), 1)
    x[rng.random(n) < 0.3] = 100.0  # ties
    expected = pl.Series(x).rolling_median(window, min_samples=1, center=True).to_numpy()
    assert _rolling_median(x, window).tobytes() == expected.tobytes()


def _frozen_reference(value, n2, active):
    """Every run of an unchanged valid reading, spans taken over all of them."""
    ok = np.isfinite(value) & active
    if ok.sum() < 2:
        return 0.0
    change = np.ones(value.size, dtype=bool)
    change[1:] = (value[1:] != value[:-1]) | ~ok[1:] | ~ok[:-1]
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, value.size))
    span = np.fmax.reduceat(n2, starts) - np.fmin.reduceat(n2, starts)
    with np.errstate(invalid="ignore"):
        frozen = ok[starts] & (
            ((span >= FROZEN_MIN_N2_RANGE) & (lengths > 1)) | (lengths >= FROZEN_ALWAYS_S)
        )
    return float(lengths[frozen].max()) if frozen.any() else 0.0


@pytest.mark.parametrize("seed", range(40))
def test_frozen_seconds_equals_the_run_by_run_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    value = np.round(rng.normal(40, 1, n), 1)
    a = int(rng.integers(0, n))
    value[a : a + int(rng.integers(0, 200))] = value[a]  # a frozen stretch, maybe at the end
    value[rng.random(n) < 0.05] = np.nan
    n2 = 60 + np.cumsum(rng.normal(0, 1, n))
    n2[rng.random(n) < 0.1] = np.nan
    active = rng.random(n) < 0.95
    assert frozen_seconds(value, n2, active) == _frozen_reference(value, n2, active)
