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

from nubo.bleed import words
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
# The finding code a channel's deviation points to, by direction (+1 up, -1 down).
CHANNEL_CODES = {
    ("press_res_ip", 1): "overpressure",
    ("press_res_ip", -1): "low_pressure",
    ("press_res_hp", 1): "overpressure",
    ("press_res_hp", -1): "hpv_fault",
    ("temp_res_hi", 1): "precooler_degradation",
    ("temp_res_hi", -1): "sensor_fault",
    ("temp_res_lo", 1): "precooler_degradation",
    ("temp_res_lo", -1): "sensor_fault",
    ("asym_press", 1): "asymmetry",
    ("asym_press", -1): "asymmetry",
    ("asym_temp", 1): "asymmetry",
    ("asym_temp", -1): "asymmetry",
    ("press_off", 1): "sensor_fault",
    ("press_off", -1): "sensor_fault",
}
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
    message_pt: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "message_pt": self.message_pt,
            "evidence": self.evidence,
        }


def _v(s: dict[str, float | None], key: str, default: float = 0.0) -> float:
    value = s.get(key)
    return default if value is None or not math.isfinite(value) else float(value)


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 2)


def engine_findings(
    e: int, s: dict[str, float | None], own: frozenset[str] = frozenset()
) -> list[Finding]:
    """Physics rules for one engine's residual summary (see features.SUMMARY_KEYS), the
    residuals already taken from this engine's normal (`adjust`); `own` names the channels
    whose reference this engine has learned (the message says against what)."""
    out: list[Finding] = []
    who = words.engine(e)

    def add(code: str, sev: Severity, text: words.Text, **ev: float | int | str | None) -> None:
        evidence = {k: _r(v) if isinstance(v, float) else v for k, v in ev.items()}
        out.append(Finding(e, code, sev, text.en, evidence, text.pt))

    def dev(channel: str, value: float) -> words.Text:
        against = words.OWN_NORMAL if channel in own else words.EXPECTED
        return words.deviation(e, channel, value, against)

    def said(en: str, pt: str) -> words.Text:
        return words.Text(f"{who.en}: {en}, on this flight.", f"{who.pt}: {pt}, neste voo.")

    warn = {k: _v(s, f"w_{k}_s") for k in ("fault", "ovht", "leak")}
    if any(warn.values()):
        names = ", ".join(f"{k} {int(v)} s" for k, v in warn.items() if v)
        add(
            "recorded_warning",
            "alert",
            said(f"bleed warnings recorded ({names})", f"alertas de sangria registrados ({names})"),
            **{f"{k}_s": v for k, v in warn.items()},
        )
    if warn["leak"]:
        add(
            "leak",
            "alert",
            said("bleed leak warning recorded", "alerta de vazamento de sangria registrado"),
            leak_s=warn["leak"],
        )

    over, res_ip = _v(s, "press_over_s"), s.get("press_res_ip")
    if over >= 10:
        add(
            "overpressure",
            "alert",
            said(
                f"bleed pressure above 60 psi for {int(over)} s",
                f"pressão de sangria acima de 60 psi por {int(over)} s",
            ),
            over_s=over,
        )
    elif res_ip is not None and res_ip > 5:
        sev: Severity = "alert" if res_ip > 10 else "watch"
        add("overpressure", sev, dev("press_res_ip", res_ip), residual_psi=res_ip)

    res_hp = s.get("press_res_hp")
    ip_ok = res_ip is None or res_ip > -3
    if res_hp is not None and res_hp < -5 and ip_ok:
        sev = "alert" if res_hp < -9 else "watch"
        add(
            "hpv_fault",
            sev,
            dev("press_res_hp", res_hp),
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
            dev("press_res_ip", res_ip),
            residual_psi=res_ip,
            temp_residual_degc=temp_hi,
        )

    shut, high = _v(s, "temp_shut_s"), _v(s, "temp_high_s")
    if shut >= 5:
        add(
            "overtemperature",
            "alert",
            said(
                f"precooler outlet at or above 257 °C for {int(shut)} s",
                f"saída do pré-resfriador a 257 °C ou mais por {int(shut)} s",
            ),
            shut_s=shut,
        )
    elif high >= 30:
        add(
            "overtemperature",
            "watch",
            said(
                f"precooler outlet at or above 240 °C for {int(high)} s",
                f"saída do pré-resfriador a 240 °C ou mais por {int(high)} s",
            ),
            high_s=high,
        )
    t_hi = s.get("temp_res_hi")
    if t_hi is not None and t_hi > 15:
        sev = "alert" if t_hi > 30 else "watch"
        add("precooler_degradation", sev, dev("temp_res_hi", t_hi), residual_degc=t_hi)

    fz_p, fz_t = _v(s, "press_frozen_s"), _v(s, "temp_frozen_s")
    if fz_p >= 60 or fz_t >= 120:
        sev = "alert" if max(fz_p, fz_t) >= 900 else "watch"
        add(
            "sensor_fault",
            sev,
            said(
                f"bleed sensor reading frozen while the engine changed condition "
                f"({int(fz_p)} s pressure, {int(fz_t)} s temperature)",
                f"leitura do sensor de sangria congelada enquanto o motor mudava de regime "
                f"({int(fz_p)} s pressão, {int(fz_t)} s temperatura)",
            ),
            press_frozen_s=fz_p,
            temp_frozen_s=fz_t,
        )
    off = s.get("press_off")
    if off is not None and off > 4:
        sev = "alert" if off > 8 else "watch"
        add(
            "sensor_fault",
            sev,
            said(
                f"bleed pressure reads {off:.1f} psi with the engine stopped (expected about 0)",
                f"pressão de sangria lê {off:.1f} psi com o motor parado (esperado cerca de 0)",
            ),
            press_off_psi=off,
        )
    masked = max(_v(s, "press_masked"), _v(s, "temp_masked"))
    if masked > 0.05:
        add(
            "sensor_fault",
            "watch",
            said(
                f"{masked:.0%} of bleed sensor samples unusable",
                f"{masked:.0%} das amostras dos sensores de sangria inutilizáveis",
            ),
            masked_share=masked,
        )
    return out


def asymmetry_findings(summary: dict[int, dict[str, float | None]]) -> list[Finding]:
    """Engine-to-engine difference at matched N2 (engine 1's summary, already taken from
    the pair's normal difference), blamed on the engine further from its normal."""
    s1, s2 = summary.get(1, {}), summary.get(2, {})
    out: list[Finding] = []
    for key, limit, res_key in (
        ("asym_press", 6.0, "press_res_ip"),
        ("asym_temp", 25.0, "temp_res_hi"),
    ):
        d = s1.get(key)
        if d is None or abs(d) <= limit:
            continue
        e = 1 if abs(_v(s1, res_key)) >= abs(_v(s2, res_key)) else 2
        sev: Severity = "alert" if abs(d) > 2 * limit else "watch"
        text = words.deviation(e, key, d if e == 1 else -d, words.OTHER_ENGINE)
        out.append(Finding(e, "asymmetry", sev, text.en, {"difference": _r(d)}, text.pt))
    return out


# --- references and scores --------------------------------------------------------------

# How far an installed engine may sit from the fleet's normal and still be healthy. Until an
# engine has learned its own reference, residuals inside this tolerance are not held against
# it; once learned, its offset (up to this tolerance) is taken out and the rules and the
# score measure the engine against itself.
INSTALL_TOL = {
    "press_res_ip": 3.0,
    "press_res_hp": 3.0,
    "temp_res_hi": 15.0,
    "temp_res_lo": 15.0,
    "asym_press": 6.0,
    "asym_temp": 30.0,
}
# A flight's spread around its engine's learned reference, in units of `sigma_within`: the
# reference itself is a mean of a few flights, and real flights have heavier tails.
OWN_SIGMA = 1.5
SCORED = tuple(c for c in CHANNELS if not c.startswith("asym"))  # asymmetry: via its rule

References = dict[str, float]  # channel -> this engine's learned reference


def adjust(s: dict[str, float | None], ref: References, art: Artefact) -> dict[str, float | None]:
    """The summary with each residual taken from this engine's normal (see INSTALL_TOL)."""
    out = dict(s)
    for c, tol in INSTALL_TOL.items():
        v = s.get(c)
        if v is None or not math.isfinite(v):
            continue
        centre = art.center.get(c, 0.0)
        r = ref.get(c)
        if r is not None:
            out[c] = v - max(min(r - centre, tol), -tol)
        else:
            d = v - centre
            out[c] = centre + math.copysign(max(abs(d) - tol, 0.0), d)
    return out


def zscores(
    s: dict[str, float | None], art: Artefact, ref: References | None = None
) -> dict[str, float]:
    """Each assessed channel's deviation: from the engine's own reference in its own
    flight-to-flight spread once learned, else from the fleet's centre in the fleet's
    spread widened by the installation tolerance."""
    ref = ref or {}
    out = {}
    for c in SCORED:
        v = s.get(c)
        if v is None or not math.isfinite(v):
            continue
        r = ref.get(c)
        if r is not None:
            sd = OWN_SIGMA * max(art.sigma_within.get(c, 1.0), WITHIN_FLOOR[c])
            out[c] = (v - r) / sd
        else:
            sd = math.hypot(max(art.sigma.get(c, 1.0), SIGMA_FLOOR[c]), INSTALL_TOL.get(c, 0) / 2)
            out[c] = (v - art.center.get(c, 0.0)) / sd
    return out


def integrity(z: dict[str, float]) -> float | None:
    """0–100, Gaussian-shaped in the excess z beyond 1σ; None when nothing was assessed."""
    if not z:
        return None
    d2 = sum(max(abs(v) - 1.0, 0.0) ** 2 for v in z.values())
    return round(100.0 * math.exp(-d2 / 40.0), 1)


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
    status: Status  # from the findings alone; `verdict.reconcile` adds the score bands
    engine_scores: dict[int, float | None]  # before any cap
    engine_z: dict[int, dict[str, float]]
    findings: list[Finding]


def assess(
    summary: dict[int, dict[str, float | None]],
    art: Artefact | None = None,
    refs: dict[int, References] | None = None,
) -> Assessment:
    """Rules and scores of one flight; `refs` are the engines' learned references."""
    art = art or load_artefact()
    refs = refs or {}
    adjusted = {e: adjust(s, refs.get(e, {}), art) for e, s in summary.items()}
    findings = asymmetry_findings(adjusted)
    for e, s in adjusted.items():
        findings += engine_findings(e, s, frozenset(refs.get(e, {})))
    engine_z = {e: zscores(s, art, refs.get(e)) for e, s in summary.items()}
    findings = dedupe_findings(findings)
    return Assessment(
        status=worst([f.severity for f in findings]),
        engine_scores={e: integrity(z) for e, z in engine_z.items()},
        engine_z=engine_z,
        findings=findings,
    )
