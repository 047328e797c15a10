"""What the processing job runs on a flight's file: the bleed pipeline (pure, CPU-bound).

Runs in a worker thread or process, so it takes and returns plain data: the file path and
the aircraft's trend state in, the JSON-safe result fields and the feature table (Parquet
bytes) out. A file the pipeline cannot use is an expected outcome, not an error.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nubo.bleed.errors import FlightDataError
from nubo.bleed.pipeline import AnalysisResult, analyze, json_safe
from nubo.bleed.series import to_parquet
from nubo.bleed.trend import TrendState

ANALYZE: Callable[..., AnalysisResult] = analyze


@dataclass(frozen=True, slots=True)
class FlightResult:
    """What a processed flight records, JSON-safe (no NaN, string keys)."""

    bleed_status: str
    integrity_score: float | None  # None when the recording let nothing be assessed
    engine_scores: dict[str, float | None]
    findings: list[dict[str, Any]]
    phases: list[dict[str, Any]]
    model_version: str
    warnings: list[str]
    stats: dict[str, Any]
    rows_read: int | None  # rows the reader parsed, of which the analysis used `rows_used`
    rows_used: int | None
    flight_status: str  # this flight alone, before the trend
    trend_status: str
    residuals: dict[str, dict[str, float | None]]
    coverage: dict[str, Any] = field(default_factory=dict)
    counts_for_trend: bool = True  # False for an incomplete flight: it gets no trend point

    @classmethod
    def of(cls, result: AnalysisResult) -> FlightResult:
        return cls(
            bleed_status=result.bleed_status,
            integrity_score=result.integrity_score,
            engine_scores=json_safe(result.engine_scores),
            findings=json_safe(result.findings),
            phases=json_safe(result.phases),
            model_version=result.model_version,
            warnings=list(result.warnings),
            stats=json_safe(result.stats),
            rows_read=result.stats.get("rows_read"),
            rows_used=result.stats.get("rows_used"),
            flight_status=result.flight_status,
            trend_status=result.trend_status,
            residuals=json_safe(result.residuals),
            coverage=json_safe(result.coverage),
            counts_for_trend=result.counts_for_trend,
        )


@dataclass
class Outcome:
    result: FlightResult | None = None
    features: bytes | None = None
    series: bytes | None = None
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
    series = to_parquet(result.series) if result.series is not None else None
    return Outcome(result=FlightResult.of(result), features=buffer.getvalue(), series=series)
