"""The verdict a person reads: status and score that agree, every flag explained, and an
honest account of what the recording allowed us to assess.

Bands: `normal` ≥ 75 > `watch` ≥ 40 > `alert`. A score below a band's floor raises the
status (with a finding saying which residual pulled it down), and a status caps the score
inside its band. `coherence_violations` states the invariant; the evaluation counts it on
every flight.
"""

from __future__ import annotations

import math
from typing import Any

from nubo.bleed import words
from nubo.bleed.model import CHANNEL_CODES, Artefact, Status, worst
from nubo.bleed.phases import Phase

WATCH_BELOW = 75.0
ALERT_BELOW = 40.0
CAP: dict[str, float] = {"watch": 74.9, "alert": 39.9}
RANK = {"normal": 0, "watch": 1, "alert": 2}
# A flight assessed for less than this in the air, or with no steady IP-stage pressure on
# any engine, is `incomplete-flight`: its verdict covers only what was seen, and it does not
# move the aircraft's trend.
MIN_AIRBORNE_MIN = 10.0
INCOMPLETE = "incomplete-flight"
AIRBORNE_PHASES = ("climb", "cruise", "descent", "approach")
CHANNEL_NAMES = tuple(dict.fromkeys(c for c, _ in CHANNEL_CODES))


def band(score: float) -> Status:
    if score < ALERT_BELOW:
        return "alert"
    return "watch" if score < WATCH_BELOW else "normal"


def reconcile(
    findings: list[dict[str, Any]],
    engine_scores: dict[int, float | None],
    engine_z: dict[int, dict[str, float]],
    residuals: dict[int, dict[str, float | None]],
    refs: dict[int, dict[str, float]],
    art: Artefact,
) -> tuple[Status, float | None, dict[int, float | None], list[dict[str, Any]]]:
    """Status, flight score, engine scores and findings made coherent (see module doc)."""
    findings = list(findings)
    scores: dict[int, float | None] = {}
    for e, score in engine_scores.items():
        by_findings = worst([f["severity"] for f in findings if f["engine"] == e])
        if score is None:
            scores[e] = None
            continue
        by_score = band(score)
        if RANK[by_score] > RANK[by_findings]:
            findings.append(
                score_finding(e, by_score, score, engine_z.get(e, {}), residuals[e], refs, art)
            )
        status = worst([by_findings, by_score])
        scores[e] = min(score, CAP[status]) if status in CAP else score
    status = worst([f["severity"] for f in findings])
    assessed = [s for s in scores.values() if s is not None]
    score = min(assessed) if assessed else None
    if score is not None and status in CAP:
        score = min(score, CAP[status])  # a finding on no engine still caps the flight
    return status, score, scores, findings


def score_finding(
    e: int,
    severity: Status,
    score: float,
    z: dict[str, float],
    residual: dict[str, float | None],
    refs: dict[int, dict[str, float]],
    art: Artefact,
) -> dict[str, Any]:
    """The finding that explains a low score: the residual furthest from normal."""
    channel = max(z, key=lambda c: abs(z[c]))
    ref = refs.get(e, {}).get(channel)
    value = float(residual.get(channel) or 0.0)
    base = ref if ref is not None else art.center.get(channel, 0.0)
    against = words.OWN_NORMAL if ref is not None else words.EXPECTED
    text = words.deviation(e, channel, value - base, against)
    return {
        "engine": e,
        "code": CHANNEL_CODES[(channel, 1 if z[channel] > 0 else -1)],
        "severity": severity,
        "message": f"{text.en[:-1]}; integrity {score:.0f}/100.",
        "message_pt": f"{text.pt[:-1]}; integridade {score:.0f}/100.",
        "evidence": {
            "channel": channel,
            "deviation": round(value - base, 2),
            "z": round(z[channel], 2),
            "reference": None if ref is None else round(ref, 2),
            "integrity_score": score,
        },
    }


def coverage(
    phases: list[Phase], summary: dict[int, dict[str, float | None]], seconds: int
) -> dict[str, Any]:
    """What the recording allowed us to assess."""
    airborne = sum(p["end_s"] - p["start_s"] for p in phases if p["phase"] in AIRBORNE_PHASES)
    steady = {
        str(e): {
            mode: round(float(s.get(key) or 0.0) / 60, 1)
            for mode, key in (
                ("ip", "steady_ip_s"),
                ("hp", "steady_hp_s"),
                ("temp_high_demand", "steady_temp_hi_s"),
                ("temp_low_demand", "steady_temp_lo_s"),
            )
        }
        for e, s in summary.items()
    }
    assessed = {
        str(e): [c for c in CHANNEL_NAMES if _finite(s.get(c))] for e, s in summary.items()
    }
    return {
        "phases": [p["phase"] for p in phases],
        "airborne_min": round(airborne / 60, 1),
        "steady_min": steady,
        "assessed": assessed,
        "frame_seconds": seconds,
    }


def incomplete_reason(cov: dict[str, Any]) -> str | None:
    """Why a recording cannot be assessed as a flight, or None."""
    if cov["airborne_min"] <= 0:
        return "the recording never leaves the ground"
    if cov["airborne_min"] < MIN_AIRBORNE_MIN:
        return f"only {cov['airborne_min']:.1f} min airborne"
    if not any("press_res_ip" in chans for chans in cov["assessed"].values()):
        return "no steady IP-stage bleed pressure on any engine"
    return None


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def coherence_violations(result: dict[str, Any]) -> list[str]:
    """Every way a result breaks the verdict's promises (empty when coherent)."""
    out: list[str] = []
    status, score = result["bleed_status"], result["integrity_score"]
    findings = result["findings"]
    if score is not None and band(score) != status:
        out.append(f"score {score} is in the {band(score)} band but the status is {status}")
    if status != "normal" and not any(f["severity"] == status for f in findings):
        out.append(f"status {status} without a finding of that severity")
    for e, s in (result.get("engine_scores") or {}).items():
        mine = [f for f in findings if str(f["engine"]) == str(e)]
        if s is not None and s < WATCH_BELOW and not any(f["evidence"] for f in mine):
            out.append(f"engine {e} scores {s} without a finding with evidence")
        if s is not None and band(s) != worst([f["severity"] for f in mine]):
            out.append(f"engine {e} scores {s} against its findings")
    if any(not f.get("evidence") or not f.get("message") for f in findings):
        out.append("a finding without evidence or message")
    return out
