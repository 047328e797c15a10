"""What the processing job runs on a flight's file: the bleed pipeline (pure, CPU-bound).

Runs in a worker thread or process, so it takes and returns plain data: the file path and
the aircraft's trend state in, the JSON-safe result and the feature table (Parquet bytes)
out. A file the pipeline cannot use is an expected outcome, not an error.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nubo.bleed.errors import FlightDataError
from nubo.bleed.pipeline import AnalysisResult, analyze
from nubo.bleed.trend import TrendState

ANALYZE: Callable[..., AnalysisResult] = analyze


@dataclass
class Outcome:
    result: dict[str, Any] | None = None
    features: bytes | None = None
    error_code: str | None = None
    error_message: str | None = None


def analyze_file(
    path: str | os.PathLike[str], aircraft_type: str | None, trend_state: TrendState | None
) -> Outcome:
    try:
        result = ANALYZE(path, aircraft_type=aircraft_type, trend_state=trend_state)
    except FlightDataError as exc:
        return Outcome(error_code=exc.code, error_message=exc.message)
    buffer = io.BytesIO()
    result.features.write_parquet(buffer)
    return Outcome(result=result.to_dict(), features=buffer.getvalue())
