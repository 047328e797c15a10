"""Bleed health model: physics rules on the features, scored against a learned baseline.

Where the aircraft documentation gives a limit (set-point bands, 60 psi overpressure,
240/257 °C precooler limits, recorded warnings) the rule uses that limit directly. The one
learned part is the baseline (expected pressure and temperature for the operating
condition) and the healthy spread of each residual, which turn residuals into z-scores for
the integrity score and the per-aircraft trend.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from nubo.bleed.baseline import NOMINAL, Baseline

Severity = Literal["watch", "alert"]
Status = Literal["normal", "watch", "alert"]
FINDING_CODES = (
    "overpressure",
    "low_pressure",
    "hpv_fault",
    "overtemperature",
    "precooler_degradation",
    "leak",
    "asymmetry",
    "sensor_fault",
    "recorded_warning",
)
RULES_VERSION = "1"
ARTEFACT_NAME = "bleed-model.json"

# Residual channels scored against the healthy fleet spread (and trended per aircraft).
CHANNELS = (
    "press_res_ip",
    "press_res_hp",
    "temp_res_hi",
    "temp_res_lo",
    "asym_press",
    "asym_temp",
    "press_off",
)
# Physical floors on the spreads so a very quiet training fleet cannot make the model twitchy.
SIGMA_FLOOR = {
    "press_res_ip": 0.5,
    "press_res_hp": 0.7,
    "temp_res_hi": 2.5,
    "temp_res_lo": 2.5,
    "asym_press": 0.7,
    "asym_temp": 3.0,
    "press_off": 0.5,
}
WITHIN_FLOOR = {
    "press_res_ip": 0.35,
    "press_res_hp": 0.6,
    "temp_res_hi": 1.5,
    "temp_res_lo": 1.5,
    "asym_press": 0.5,
    "asym_temp": 2.0,
    "press_off": 0.4,
}


@dataclass(frozen=True)
class Artefact:
    baseline: Baseline
    center: dict[str, float]  # healthy fleet median of each channel
    sigma: dict[str, float]  # healthy spread between engines (for per-flight scores)
    sigma_within: dict[str, float]  # flight-to-flight spread of one engine (for trends)
    trained_on: dict[str, Any] = field(default_factory=dict)

    @property
    def model_version(self) -> str:
        digest = hashlib.sha256(json.dumps(self.params(), sort_keys=True).encode()).hexdigest()
        return f"bleed-{RULES_VERSION}.{digest[:8]}"

    def params(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_dict(),
            "center": self.center,
            "sigma": self.sigma,
            "sigma_within": self.sigma_within,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, **self.params(), "trained_on": self.trained_on}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artefact:
        return cls(
            baseline=Baseline.from_dict(d["baseline"]),
            center={k: float(v) for k, v in d["center"].items()},
            sigma={k: float(v) for k, v in d["sigma"].items()},
            sigma_within={k: float(v) for k, v in d["sigma_within"].items()},
            trained_on=d.get("trained_on", {}),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")
        return path


NOMINAL_ARTEFACT = Artefact(
    baseline=NOMINAL,
    center=dict.fromkeys(CHANNELS, 0.0),
    sigma=dict(SIGMA_FLOOR),
    sigma_within=dict(WITHIN_FLOOR),
    trained_on={"note": "nominal set-points, not fitted"},
)


@lru_cache(maxsize=1)
def load_artefact() -> Artefact:
    """The artefact shipped inside the package (nominal set-points if none is shipped)."""
    ref = resources.files("nubo.bleed") / "artefacts" / ARTEFACT_NAME
    if not ref.is_file():
        return NOMINAL_ARTEFACT
    return Artefact.from_dict(json.loads(ref.read_text()))


# --- findings --------------------------------------------------------------------------


@dataclass
class Finding:
    engine: int | None
    code: str
    severity: Severity
    message: str
    evidence: dict[str, float | int | str | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "evidence": self.evidence,
        }


def _v(s: dict[str, float | None], key: str, default: float = 0.0) -> float:
    value = s.get(key)
    return default if value is None or not math.isfinite(value) else float(value)


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 2)


def engine_findings(e: int, s: dict[str, float | None]) -> list[Finding]:
    """Physics rules for one engine's residual summary (see features.SUMMARY_KEYS)."""
    out: list[Finding] = []

    def add(code: str, sev: Severity, msg: str, **ev: float | int | str | None) -> None:
        out.append(
            Finding(
                e,
                code,
                sev,
                f"Engine {e}: {msg}",
                {k: _r(v) if isinstance(v, float) else v for k, v in ev.items()},
            )
        )

    warn = {k: _v(s, f"w_{k}_s") for k in ("fault", "ovht", "leak")}
    if any(warn.values()):
        names = ", ".join(f"{k} {int(v)} s" for k, v in warn.items() if v)
        add(
            "recorded_warning",
            "alert",
            f"bleed warnings recorded ({names})",
            **{f"{k}_s": v for k, v in warn.items()},
        )
    if warn["leak"]:
        add("leak", "alert", "bleed leak warning recorded", leak_s=warn["leak"])

    over, res_ip = _v(s, "press_over_s"), s.get("press_res_ip")
    if over >= 10:
        add("overpressure", "alert", f"pressure above 60 psi for {int(over)} s", over_s=over)
    elif res_ip is not None and res_ip > 5:
        sev: Severity = "alert" if res_ip > 10 else "watch"
        add(
            "overpressure",
            sev,
            f"regulated pressure {res_ip:+.1f} psi above expected",
            residual_psi=res_ip,
        )

    res_hp = s.get("press_res_hp")
    ip_ok = res_ip is None or res_ip > -3
    if res_hp is not None and res_hp < -5 and ip_ok:
        sev = "alert" if res_hp < -9 else "watch"
        add(
            "hpv_fault",
            sev,
            f"pressure {res_hp:+.1f} psi below expected at low N2 (HP valve)",
            residual_psi=res_hp,
            hpv_closed_share=s.get("hpv_closed_low_n2_share"),
        )
    elif res_ip is not None and res_ip < -5:
        temp_hi = _v(s, "temp_res_hi")
        code = "leak" if temp_hi > 6 else "low_pressure"
        sev = "alert" if res_ip < -10 else "watch"
        add(
            code,
            sev,
            f"regulated pressure {res_ip:+.1f} psi below expected",
            residual_psi=res_ip,
            temp_residual_degc=temp_hi,
        )

    shut, high = _v(s, "temp_shut_s"), _v(s, "temp_high_s")
    if shut >= 5:
        add("overtemperature", "alert", f"precooler outlet ≥257 °C for {int(shut)} s", shut_s=shut)
    elif high >= 30:
        add("overtemperature", "watch", f"precooler outlet ≥240 °C for {int(high)} s", high_s=high)
    t_hi = s.get("temp_res_hi")
    if t_hi is not None and t_hi > 15:
        sev = "alert" if t_hi > 30 else "watch"
        add(
            "precooler_degradation",
            sev,
            f"precooler outlet {t_hi:+.0f} °C above expected at high demand",
            residual_degc=t_hi,
        )

    fz_p, fz_t = _v(s, "press_frozen_s"), _v(s, "temp_frozen_s")
    if fz_p >= 60 or fz_t >= 120:
        sev = "alert" if max(fz_p, fz_t) >= 900 else "watch"
        add(
            "sensor_fault",
            sev,
            f"sensor reading frozen ({int(fz_p)} s pressure, {int(fz_t)} s temperature)",
            press_frozen_s=fz_p,
            temp_frozen_s=fz_t,
        )
    off = s.get("press_off")
    if off is not None and off > 4:
        sev = "alert" if off > 8 else "watch"
        add(
            "sensor_fault",
            sev,
            f"pressure reads {off:.1f} psi with the engine stopped",
            press_off_psi=off,
        )
    masked = max(_v(s, "press_masked"), _v(s, "temp_masked"))
    if masked > 0.05:
        add(
            "sensor_fault",
            "watch",
            f"{masked:.0%} of bleed sensor samples unusable",
            masked_share=masked,
        )
    return out


def asymmetry_findings(summary: dict[int, dict[str, float | None]]) -> list[Finding]:
    """Engine-to-engine difference at matched N2, blamed on the engine further from baseline."""
    s1, s2 = summary.get(1, {}), summary.get(2, {})
    out: list[Finding] = []
    for key, limit, unit, res_key in (
        ("asym_press", 6.0, "psi", "press_res_ip"),
        ("asym_temp", 25.0, "°C", "temp_res_hi"),
    ):
        d = s1.get(key)
        if d is None or abs(d) <= limit:
            continue
        e = 1 if abs(_v(s1, res_key)) >= abs(_v(s2, res_key)) else 2
        sev: Severity = "alert" if abs(d) > 2 * limit else "watch"
        out.append(
            Finding(
                e,
                "asymmetry",
                sev,
                f"Engine 1 − engine 2 {key.split('_')[1]} {d:+.1f} {unit} at matched N2",
                {"difference": _r(d)},
            )
        )
    return out


# --- scores ----------------------------------------------------------------------------


def zscores(s: dict[str, float | None], art: Artefact) -> dict[str, float]:
    out = {}
    for c in CHANNELS:
        if c.startswith("asym"):
            continue  # shared by both engines; scored through the asymmetry finding instead
        v = s.get(c)
        if v is not None and math.isfinite(v):
            out[c] = (v - art.center.get(c, 0.0)) / max(art.sigma.get(c, 1.0), SIGMA_FLOOR[c])
    return out


def integrity(s: dict[str, float | None], findings: list[Finding], art: Artefact) -> float:
    """0–100: Gaussian-shaped in the excess z beyond 1σ, capped by the worst finding."""
    z = zscores(s, art)
    d2 = sum(max(abs(v) - 1.0, 0.0) ** 2 for v in z.values())
    score = 100.0 * math.exp(-d2 / 40.0)
    sev = {f.severity for f in findings}
    if "alert" in sev:
        score = min(score, 40.0)
    elif "watch" in sev:
        score = min(score, 75.0)
    return round(score, 1)


def dedupe_findings(findings: list[Finding]) -> list[Finding]:
    """One finding per engine and code, the most severe (first on ties), in order."""
    rank = {"watch": 0, "alert": 1}
    best: dict[tuple[int | None, str], Finding] = {}
    for f in findings:
        key = (f.engine, f.code)
        if key not in best or rank[f.severity] > rank[best[key].severity]:
            best[key] = f
    return [f for f in findings if best[(f.engine, f.code)] is f]


def worst(statuses: list[str]) -> Status:
    if "alert" in statuses:
        return "alert"
    return "watch" if "watch" in statuses else "normal"


@dataclass
class Assessment:
    status: Status
    integrity_score: float
    engine_scores: dict[int, float]
    findings: list[Finding]


def assess(summary: dict[int, dict[str, float | None]], art: Artefact | None = None) -> Assessment:
    art = art or load_artefact()
    findings = asymmetry_findings(summary)
    per_engine: dict[int, list[Finding]] = {}
    for e, s in summary.items():
        per_engine[e] = engine_findings(e, s)
        findings += per_engine[e]
    scores = {
        e: integrity(
            s, per_engine[e] + [f for f in findings if f.engine == e and f.code == "asymmetry"], art
        )
        for e, s in summary.items()
    }
    findings = dedupe_findings(findings)
    return Assessment(
        status=worst([f.severity for f in findings]),
        integrity_score=min(scores.values()) if scores else 100.0,
        engine_scores=scores,
        findings=findings,
    )


def train(data_dir: str | Path, *, progress: Any = None) -> Artefact:
    """Fit the baseline and residual spreads on the healthy flights of a simulated or real
    fleet directory (files + optional `labels.csv`); see `nubo.bleed.training`."""
    from nubo.bleed.training import fit_artefact

    return fit_artefact(Path(data_dir), progress=progress)
