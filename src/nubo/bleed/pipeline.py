"""One flight file in, one JSON-safe result out: read → phases → features → model → trend →
verdict (coherent status and score, coverage)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from nubo.bleed.features import compute_features
from nubo.bleed.model import Artefact, Assessment, assess, load_artefact, worst
from nubo.bleed.phases import Phase, detect_phases
from nubo.bleed.read import read_flight
from nubo.bleed.series import series_frame
from nubo.bleed.trend import FLAGGED, SCORE, TrendState, references, update_trend
from nubo.bleed.trend import new_state as new_state_
from nubo.bleed.verdict import (
    INCOMPLETE,
    WATCH_BELOW,
    band,
    coverage,
    incomplete_reason,
    reconcile,
)
from nubo.bleed.where import place_findings


@dataclass
class AnalysisResult:
    bleed_status: str
    integrity_score: float | None  # None when the recording let nothing be assessed
    engine_scores: dict[int, float | None]
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
    coverage: dict[str, Any] = field(default_factory=dict)
    counts_for_trend: bool = True  # False for an incomplete flight: it leaves the trend alone
    series: pl.DataFrame | None = field(default=None, repr=False)  # what the plots draw

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
                "coverage": self.coverage,
                "flight_status": self.flight_status,
                "trend_status": self.trend_status,
                "counts_for_trend": self.counts_for_trend,
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
    refs = references(trend_state)
    verdict = assess(feats.summary, art, refs)
    cov = coverage(phases, feats.summary, flight.data.height)
    cov.update(rows_read=flight.rows_read, rows_used=flight.rows_used)
    incomplete = incomplete_reason(cov)
    warnings = list(flight.warnings)
    residuals = _trend_input(feats.summary, verdict)
    trend_findings: list[dict[str, Any]] = []
    if incomplete:
        warnings.append(f"{INCOMPLETE}: {incomplete}; this flight does not move the trend")
        new_state, trend_status = trend_state or new_state_(), "normal"
    else:
        new_state, trend_findings, trend_status = update_trend(trend_state, residuals, art)
    findings = [f.to_dict() for f in verdict.findings]
    seen = {(f["engine"], f["code"]) for f in findings}
    findings += [f for f in trend_findings if (f["engine"], f["code"]) not in seen]
    flight_status = worst(
        [verdict.status, *(band(s) for s in verdict.engine_scores.values() if s is not None)]
    )
    status, score, engine_scores, findings = reconcile(
        findings, verdict.engine_scores, verdict.engine_z, feats.summary, refs, art
    )
    time = flight.data["time_s"].to_numpy()
    findings = place_findings(findings, feats.seconds, phases, time)
    if incomplete:
        # The engines' scores cover only the regimes listed in `coverage.assessed`; a
        # flight score would read as a verdict on a flight that was not seen.
        score = None
    return AnalysisResult(
        bleed_status=status,
        integrity_score=score,
        engine_scores=engine_scores,
        findings=findings,
        phases=phases,
        model_version=art.model_version,
        warnings=warnings,
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
        flight_status=flight_status,
        trend_status=trend_status,
        coverage=cov,
        counts_for_trend=incomplete is None,
        series=series_frame(flight.data),
    )


def _trend_input(
    summary: dict[int, dict[str, float | None]], verdict: Assessment
) -> dict[int, dict[str, float | None]]:
    """Per engine, the residuals, the score and whether anything was found (an engine
    learns its reference only from flights where nothing was)."""
    flagged = {f.engine for f in verdict.findings}
    out: dict[int, dict[str, float | None]] = {}
    for e, s in summary.items():
        score = verdict.engine_scores.get(e)
        low = score is not None and score < WATCH_BELOW
        out[e] = {**s, SCORE: score, FLAGGED: float(e in flagged or low)}
    return out
