"""One flight file in, one JSON-safe result out: read → phases → features → model → trend."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from nubo.bleed.features import compute_features
from nubo.bleed.model import Artefact, assess, load_artefact, worst
from nubo.bleed.phases import Phase, detect_phases
from nubo.bleed.read import read_flight
from nubo.bleed.trend import TrendState, update_trend


@dataclass
class AnalysisResult:
    bleed_status: str
    integrity_score: float
    engine_scores: dict[int, float]
    findings: list[dict[str, Any]]
    phases: list[Phase]
    model_version: str
    warnings: list[str]
    masked_share: dict[str, float]
    stats: dict[str, Any]
    features: pl.DataFrame = field(repr=False)
    residuals: dict[int, dict[str, float | None]]
    new_trend_state: TrendState
    flight_status: str = "normal"  # this flight alone, before the trend
    trend_status: str = "normal"

    def to_dict(self) -> dict[str, Any]:
        """The result fields of the spec (plus diagnostics), with no NaN or infinity."""
        return json_safe(
            {
                "bleed_status": self.bleed_status,
                "integrity_score": self.integrity_score,
                "engine_scores": {str(e): s for e, s in self.engine_scores.items()},
                "findings": self.findings,
                "phases": self.phases,
                "model_version": self.model_version,
                "warnings": self.warnings,
                "masked_share": self.masked_share,
                "stats": self.stats,
                "flight_status": self.flight_status,
                "trend_status": self.trend_status,
                "residuals": {str(e): r for e, r in self.residuals.items()},
            }
        )


def json_safe(obj: Any) -> Any:
    """Replace NaN/inf with None, recursively; numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def analyze(
    path: str | os.PathLike[str],
    *,
    trend_state: TrendState | None = None,
    aircraft_type: str | None = None,
    artefact: Artefact | None = None,
) -> AnalysisResult:
    """Analyse one flight file; raises FlightDataError when the file cannot be used."""
    art = artefact or load_artefact()
    flight = read_flight(path, aircraft_type=aircraft_type)
    phases = detect_phases(flight.data)
    feats = compute_features(flight.data, phases, art.baseline, flight.masked_share)
    verdict = assess(feats.summary, art)
    residuals = {e: dict(s) for e, s in feats.summary.items()}
    new_state, trend_findings, trend_status = update_trend(trend_state, residuals, art)
    findings = [f.to_dict() for f in verdict.findings]
    flagged = {(f["engine"], f["code"]) for f in findings}
    findings += [f for f in trend_findings if (f["engine"], f["code"]) not in flagged]
    engine_scores = dict(verdict.engine_scores)
    for f in trend_findings:
        e = f["engine"]
        engine_scores[e] = min(engine_scores.get(e, 100.0), 75.0)
    return AnalysisResult(
        bleed_status=worst([verdict.status, trend_status]),
        integrity_score=min(engine_scores.values()) if engine_scores else 100.0,
        engine_scores=engine_scores,
        findings=findings,
        phases=phases,
        model_version=art.model_version,
        warnings=flight.warnings,
        masked_share={k: round(v, 4) for k, v in flight.masked_share.items()},
        stats={
            "rows_read": flight.rows_read,
            "rows_used": flight.rows_used,
            "duration_s": round(flight.duration_s, 3),
            "sample_rate_hz": round(flight.sample_rate_hz, 3),
            "columns": flight.columns_total,
            "format": flight.source_format,
        },
        features=feats.table,
        residuals=residuals,
        new_trend_state=new_state,
        flight_status=verdict.status,
        trend_status=trend_status,
    )
