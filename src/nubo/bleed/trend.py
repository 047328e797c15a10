"""Per-aircraft trend of the residual channels across flights: EWMA and CUSUM per engine.

Each engine first learns its own reference over `WARMUP` flights (installed engines sit a
little off the fleet baseline), then tracks standardised deviations from it. The state is
a plain JSON-serialisable dict the database layer stores per aircraft and hands back,
flight after flight, in flight order.
"""

from __future__ import annotations

import math
from typing import Any

from nubo.bleed.model import CHANNELS, WITHIN_FLOOR, Artefact, Finding, Status, load_artefact

TrendState = dict[str, Any]
# Asymmetry is left to the per-flight rules: it is one number shared by both engines, so a
# trend on it could not say which engine is drifting; each engine's own residuals can.
TREND_CHANNELS = tuple(c for c in CHANNELS if not c.startswith("asym"))
STATE_VERSION = 1
WARMUP = 5
LAMBDA = 0.25  # EWMA weight of the newest flight
EWMA_LIMIT = 3.0  # in units of the EWMA's own standard deviation
CUSUM_K = 1.0  # slack, in σ
CUSUM_H = 10.0  # decision interval, in σ
# Below these absolute shifts nothing is raised, however consistent: physically irrelevant.
MIN_SHIFT = {
    "press_res_ip": 1.2,
    "press_res_hp": 1.5,
    "temp_res_hi": 5.0,
    "temp_res_lo": 5.0,
    "asym_press": 1.5,
    "asym_temp": 6.0,
    "press_off": 1.2,
}
CODES = {
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


def new_state() -> TrendState:
    return {"version": STATE_VERSION, "flights": 0, "engines": {}}


def reset_engine(state: TrendState, engine: int | str) -> TrendState:
    """A copy of the state with one engine forgotten, e.g. after an engine or valve change:
    its next flights learn a fresh reference."""
    st = _copy(state)
    st["engines"].pop(str(engine), None)
    return st


def _channel() -> dict[str, Any]:
    return {
        "n": 0,
        "ref_sum": 0.0,
        "ref": None,
        "ewma": 0.0,
        "cusum_pos": 0.0,
        "cusum_neg": 0.0,
        "last": None,
    }


def _step(ch: dict[str, Any], value: float, sigma: float) -> None:
    ch["n"] += 1
    ch["last"] = value
    if ch["ref"] is None:
        ch["ref_sum"] += value
        if ch["n"] >= WARMUP:
            ch["ref"] = ch["ref_sum"] / ch["n"]
        return
    z = max(min((value - ch["ref"]) / sigma, 50.0), -50.0)  # one wild flight cannot poison it
    ch["ewma"] = LAMBDA * z + (1 - LAMBDA) * ch["ewma"]
    ch["cusum_pos"] = max(0.0, ch["cusum_pos"] + z - CUSUM_K)
    ch["cusum_neg"] = max(0.0, ch["cusum_neg"] - z - CUSUM_K)


def _signal(ch: dict[str, Any], name: str, sigma: float) -> int:
    """+1 / -1 when the channel has drifted up / down significantly, else 0."""
    if ch["ref"] is None:
        return 0
    ewma_sd = math.sqrt(LAMBDA / (2 - LAMBDA))
    shift = ch["ewma"] * sigma
    if abs(shift) < MIN_SHIFT[name]:
        return 0
    if abs(ch["ewma"]) > EWMA_LIMIT * ewma_sd or max(ch["cusum_pos"], ch["cusum_neg"]) > CUSUM_H:
        return 1 if ch["ewma"] > 0 else -1
    return 0


def update_trend(
    state: TrendState | None,
    flight_residuals: dict[int, dict[str, float | None]] | dict[str, dict[str, float | None]],
    artefact: Artefact | None = None,
) -> tuple[TrendState, list[dict[str, Any]], Status]:
    """Fold one flight's per-engine residuals into the aircraft's trend.

    Returns the new state (the input is not mutated), trend findings (same shape as flight
    findings) and the trend status (`normal` or `watch`).
    """
    art = artefact or load_artefact()
    st: TrendState = _copy(state) if state else new_state()
    st["flights"] += 1
    findings: list[Finding] = []
    for eng, res in flight_residuals.items():
        e = str(eng)
        chans = st["engines"].setdefault(e, {})
        for name in TREND_CHANNELS:
            value = res.get(name)
            if value is None or not math.isfinite(value):
                continue
            sigma = max(art.sigma_within.get(name, 1.0), WITHIN_FLOOR[name])
            ch = chans.setdefault(name, _channel())
            _step(ch, float(value), sigma)
            direction = _signal(ch, name, sigma)
            if direction:
                findings.append(_finding(int(e), name, direction, ch, sigma))
    findings = _dedupe(findings)
    return st, [f.to_dict() for f in findings], "watch" if findings else "normal"


def _finding(e: int, name: str, direction: int, ch: dict[str, Any], sigma: float) -> Finding:
    shift = ch["ewma"] * sigma
    return Finding(
        engine=e,
        code=CODES[(name, direction)],
        severity="watch",
        message=f"Engine {e}: {name} trending {shift:+.1f} from this engine's reference",
        evidence={
            "channel": name,
            "trend_shift": round(shift, 2),
            "ewma_z": round(ch["ewma"], 2),
            "cusum": round(max(ch["cusum_pos"], ch["cusum_neg"]), 2),
            "reference": round(ch["ref"], 2),
            "flights": ch["n"],
        },
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per engine and code: the channel with the largest shift speaks."""
    best: dict[tuple[int | None, str], Finding] = {}
    for f in findings:
        key = (f.engine, f.code)
        shift = abs(float(f.evidence["trend_shift"] or 0))
        if key not in best or shift > abs(float(best[key].evidence["trend_shift"] or 0)):
            best[key] = f
    return list(best.values())


def _copy(state: TrendState) -> TrendState:
    return {
        "version": state.get("version", STATE_VERSION),
        "flights": int(state.get("flights", 0)),
        "engines": {
            e: {c: dict(v) for c, v in ch.items()} for e, ch in state.get("engines", {}).items()
        },
    }
