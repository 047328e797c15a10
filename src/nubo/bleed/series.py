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
    buckets = math.ceil(n / size)
    keep = np.zeros(buckets * size, dtype=bool)
    first = np.arange(buckets) * size  # each bucket's first row
    for name in values:
        # One (buckets × size) view per series; the padding of the last bucket never wins.
        column = np.full(buckets * size, np.nan)
        column[:n] = frame[name].to_numpy()
        missing = np.isnan(column).reshape(buckets, size)
        grid = column.reshape(buckets, size)
        keep[first + np.argmin(np.where(missing, np.inf, grid), axis=1)] = True
        keep[first + np.argmax(np.where(missing, -np.inf, grid), axis=1)] = True
    return frame.filter(pl.Series(keep[:n]))


def json_columns(frame: pl.DataFrame) -> dict[str, str]:
    """Each column as the text of a JSON array, written by Polars' CSV writer (in Rust, the
    shortest text that reads back as the same 32-bit float), NaN and infinities as null.

    Python's own encoder spends about a microsecond per float, and writes each 32-bit value
    with the 17 digits of its 64-bit widening: twice the bytes for no precision."""
    finite = frame.select(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c)
        if frame.schema[c].is_float() else pl.col(c)
        for c in frame.columns
    )
    out = {}
    for name in finite.columns:
        text = finite.select(name).write_csv(
            include_header=False, null_value="null", line_terminator=","
        )
        out[name] = f"[{text[:-1]}]"
    return out


def to_arrow_stream(frame: pl.DataFrame) -> bytes:
    """The frame as an Arrow IPC stream (what `apache-arrow`'s `tableFromIPC` reads)."""
    buffer = io.BytesIO()
    frame.write_ipc_stream(buffer)
    return buffer.getvalue()
