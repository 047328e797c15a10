"""The plots' series: the used columns of the 1 Hz frame, reduced by min/max per bucket."""

from __future__ import annotations

import numpy as np
import polars as pl

from nubo.bleed.series import PLOTTED, read_parquet, reduce_min_max, series_frame, to_parquet


def _frame(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    columns = {name: rng.normal(30, 1, n) for name in PLOTTED}
    return pl.DataFrame({"time_s": np.arange(n), **columns, "cas_kt": np.zeros(n)})


def test_series_frame_keeps_time_and_the_plotted_columns_only():
    frame = series_frame(_frame(10))
    assert frame.columns == ["time_s", *PLOTTED]
    assert frame["eng1_bleed_press_psi"].dtype == pl.Float32


def test_a_one_second_spike_survives_the_reduction():
    frame = series_frame(_frame(10_800))
    spiked = frame.with_columns(
        pl.when(pl.col("time_s") == 7_777).then(99.0).otherwise(pl.col("eng2_bleed_press_psi"))
        .cast(pl.Float32).alias("eng2_bleed_press_psi"))
    reduced = reduce_min_max(spiked, 2000)
    assert reduced.height <= 2000
    assert reduced.filter(pl.col("time_s") == 7_777)["eng2_bleed_press_psi"][0] == 99.0
    assert reduced["time_s"].is_sorted()
    assert reduced["eng1_bleed_press_psi"].min() == spiked["eng1_bleed_press_psi"].min()


def test_a_short_series_is_not_reduced():
    frame = series_frame(_frame(100))
    assert reduce_min_max(frame, 2000).equals(frame)


def test_parquet_round_trip_reads_only_the_asked_columns():
    frame = series_frame(_frame(50))
    back = read_parquet(to_parquet(frame), ["eng1_n2_pct"])
    assert back.columns == ["time_s", "eng1_n2_pct"]
    assert back.height == 50


def _reduce_reference(frame: pl.DataFrame, points: int) -> pl.DataFrame:
    """Bucket by bucket, as the reduction is defined."""
    values = [c for c in frame.columns if c != "time_s"]
    size = -(-frame.height // max(1, points // max(2, 2 * len(values))))
    keep = np.zeros(frame.height, dtype=bool)
    for name in values:
        column = frame[name].to_numpy().astype(np.float64)
        for lo in range(0, frame.height, size):
            part = column[lo : lo + size]
            keep[lo + int(np.argmin(np.where(np.isnan(part), np.inf, part)))] = True
            keep[lo + int(np.argmax(np.where(np.isnan(part), -np.inf, part)))] = True
    return frame.filter(pl.Series(keep))


def test_the_reduction_keeps_the_rows_of_the_bucket_by_bucket_definition():
    frame = series_frame(_frame(10_001)).with_columns(
        pl.when(pl.col("time_s") % 97 < 40).then(None).otherwise(pl.col("eng1_n2_pct"))
        .alias("eng1_n2_pct"))
    for points in (2000, 333, 14):
        assert reduce_min_max(frame, points).equals(_reduce_reference(frame, points))
