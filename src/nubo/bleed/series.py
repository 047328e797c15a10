"""The time series behind the flight's plots: the used columns of the 1 Hz frame, and their
reduction to at most N points per series by min/max per bucket (a one-second spike
survives any zoom-out)."""

from __future__ import annotations

import io
import math

import numpy as np
import polars as pl

from nubo.bleed.read import TIME

PLOTTED = (
    "alt_std_ft",
    "eng1_bleed_press_psi",
    "eng2_bleed_press_psi",
    "eng1_precooler_out_temp_degc",
    "eng2_precooler_out_temp_degc",
    "eng1_n2_pct",
    "eng2_n2_pct",
)


def series_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns the plots use, as 32-bit floats (the 1 Hz frame's precision is ample)."""
    present = [c for c in PLOTTED if c in frame.columns]
    return frame.select(
        pl.col(TIME).cast(pl.Int32), *(pl.col(c).cast(pl.Float32) for c in present)
    )


def to_parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def read_parquet(data: bytes, params: list[str] | None) -> pl.DataFrame:
    columns = [TIME, *(params or [])] if params else None
    return pl.read_parquet(io.BytesIO(data), columns=columns)


def reduce_min_max(frame: pl.DataFrame, points: int) -> pl.DataFrame:
    """At most `points` rows: per bucket of consecutive rows, the rows holding each series'
    minimum and maximum (so every extreme keeps its own time), in time order."""
    n = frame.height
    if n <= points or points < 2:
        return frame.head(points) if points < 2 else frame
    values = [c for c in frame.columns if c != TIME]
    # Each bucket keeps up to two rows per series: size buckets so the total stays <= points.
    per_bucket = max(2, 2 * len(values))
    buckets = max(1, points // per_bucket)
    size = math.ceil(n / buckets)
    bucket = np.arange(n) // size
    keep = np.zeros(n, dtype=bool)
    for name in values:
        column = frame[name].to_numpy().astype(np.float64)
        filled_low = np.where(np.isnan(column), np.inf, column)
        filled_high = np.where(np.isnan(column), -np.inf, column)
        for b in range(int(bucket[-1]) + 1):
            lo, hi = b * size, min(n, (b + 1) * size)
            keep[lo + int(np.argmin(filled_low[lo:hi]))] = True
            keep[lo + int(np.argmax(filled_high[lo:hi]))] = True
    return frame.filter(pl.Series(keep))
