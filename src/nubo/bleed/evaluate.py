"""Fleet evaluation: run pipeline + trend per aircraft in flight order and score detection.

Definitions (also in docs/model.md):
- a fault is *detected* when, while it is active, a flight of that aircraft ends `watch` or
  `alert` with a finding on the faulty engine;
- *lead time* is the number of flights from that first detection to the first flight where
  the fault's severity reaches `SEVERE` (negative when detected only afterwards);
- a *false alert* is a flight with no active fault whose status is `alert` (false watches,
  status `watch`, are counted separately);
- a *coherence violation* is any broken promise of `verdict.coherence_violations` on any
  flight (status against score band, a flag or low score without a finding).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nubo.bleed.errors import FlightDataError
from nubo.bleed.fleetdir import FlightFile, list_flights
from nubo.bleed.model import Artefact, load_artefact
from nubo.bleed.pipeline import analyze
from nubo.bleed.simulate import SEVERE
from nubo.bleed.verdict import coherence_violations

# A healthy engine's score is judged once its reference is learned: after this many flights.
LEARNED_AFTER = 10


@dataclass
class FlightOutcome:
    flight: FlightFile
    status: str
    score: float | None
    engines_flagged: set[int]
    codes: set[str]
    error: str | None = None
    violations: list[str] = field(default_factory=list)
    incomplete: bool = False
    trend_only: bool = False  # flagged by the trend while the flight alone was normal


def run_fleet(
    data_dir: Path, artefact: Artefact | None = None, progress: Callable[[], None] | None = None
) -> list[FlightOutcome]:
    art = artefact or load_artefact()
    outcomes: list[FlightOutcome] = []
    state: dict[str, Any] = {}
    for f in list_flights(Path(data_dir)):
        try:
            r = analyze(f.path, trend_state=state.get(f.aircraft), artefact=art)
        except FlightDataError as exc:
            outcomes.append(FlightOutcome(f, "failed", 0.0, set(), set(), exc.code))
        else:
            state[f.aircraft] = r.new_trend_state
            flagged = {int(x["engine"]) for x in r.findings if x["engine"] is not None}
            codes = {str(x["code"]) for x in r.findings}
            outcomes.append(
                FlightOutcome(
                    f,
                    r.bleed_status,
                    r.integrity_score,
                    flagged,
                    codes,
                    violations=coherence_violations(r.to_dict()),
                    incomplete=not r.counts_for_trend,
                    trend_only=r.flight_status == "normal" and r.trend_status != "normal",
                )
            )
        if progress:
            progress()
    return outcomes


def summarise(outcomes: list[FlightOutcome]) -> dict[str, Any]:
    by_aircraft: dict[str, list[FlightOutcome]] = defaultdict(list)
    for o in outcomes:
        by_aircraft[o.flight.aircraft].append(o)
    per_type: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for flights in by_aircraft.values():
        active = [o for o in flights if not o.flight.healthy]
        if not active:
            continue
        kind, engine = active[0].flight.fault_type, active[0].flight.engine
        severe_at = next(
            (o.flight.flight_index for o in active if o.flight.severity >= SEVERE), None
        )
        hit = next(
            (o for o in active if o.status in ("watch", "alert") and engine in o.engines_flagged),
            None,
        )
        per_type[kind]["detected"].append(hit is not None)
        per_type[kind]["first_by_trend"].append(hit is not None and hit.trend_only)
        if hit is not None and severe_at is not None:
            per_type[kind]["lead"].append(severe_at - hit.flight.flight_index)
            per_type[kind]["severity_at_detection"].append(hit.flight.severity)
    healthy = [o for o in outcomes if o.flight.healthy and o.status != "failed"]
    false_alerts = sum(o.status == "alert" for o in healthy)
    false_watches = sum(o.status == "watch" for o in healthy)
    report: dict[str, Any] = {
        "flights": len(outcomes),
        "failed_files": sum(o.status == "failed" for o in outcomes),
        "healthy_flights": len(healthy),
        "false_alerts_per_1000": round(1000 * false_alerts / max(len(healthy), 1), 2),
        "false_watches_per_1000": round(1000 * false_watches / max(len(healthy), 1), 2),
        "coherence_violations": sum(len(o.violations) for o in outcomes),
        "flights_with_violations": sum(bool(o.violations) for o in outcomes),
        "incomplete_flights": sum(o.incomplete for o in outcomes),
        "healthy_scores": _healthy_scores(healthy),
        "roc_auc": _auc(outcomes, 0.0),
        "roc_auc_severity_ge_0_3": _auc(outcomes, 0.3),
        "fault_types": {},
    }
    for kind, d in sorted(per_type.items()):
        leads = d["lead"]
        report["fault_types"][kind] = {
            "aircraft": len(d["detected"]),
            "detection_rate": round(sum(d["detected"]) / len(d["detected"]), 3),
            "median_lead_flights": statistics.median(leads) if leads else None,
            "first_detected_by_trend_alone": sum(d["first_by_trend"]),
            "median_severity_at_detection": (
                round(statistics.median(d["severity_at_detection"]), 3)
                if d["severity_at_detection"]
                else None
            ),
        }
    return report


def _healthy_scores(healthy: list[FlightOutcome]) -> dict[str, float | None]:
    learned = [
        o.score for o in healthy if o.flight.flight_index >= LEARNED_AFTER and o.score is not None
    ]
    if not learned:
        return {"flights": 0, "median": None, "p5": None, "min": None, "share_ge_90": None}
    learned.sort()
    return {
        "flights": len(learned),
        "median": statistics.median(learned),
        "p5": learned[int(0.05 * (len(learned) - 1))],
        "min": learned[0],
        "share_ge_90": round(sum(v >= 90 for v in learned) / len(learned), 4),
    }


def _auc(outcomes: list[FlightOutcome], min_severity: float) -> float | None:
    from sklearn.metrics import roc_auc_score

    rows = [
        (0 if o.flight.healthy else 1, 100.0 - o.score)
        for o in outcomes
        if o.status != "failed"
        and o.score is not None
        and (o.flight.healthy or o.flight.severity >= min_severity)
    ]
    labels = {y for y, _ in rows}
    if labels != {0, 1}:
        return None
    return round(float(roc_auc_score([y for y, _ in rows], [s for _, s in rows])), 4)


def evaluate(
    data_dir: str | Path,
    artefact: Artefact | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Detection rate and median lead per fault type, false alerts, ROC-AUC."""
    art = artefact or load_artefact()
    report = summarise(run_fleet(Path(data_dir), art, progress))
    report["model_version"] = art.model_version
    return report
