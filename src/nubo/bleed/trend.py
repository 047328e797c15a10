"""Per-aircraft trend across flights: each engine's learned references, EWMA and CUSUM.

Each engine first learns its own reference over `WARMUP` clean flights (no finding on that
engine; installed engines sit a little off the fleet baseline), then tracks standardised
deviations from it: of each residual channel (a steady drift) and of its integrity score
(a sustained fall). The references also feed the next flight's rules and score
(`references`). The state is a plain JSON-serialisable dict the database layer derives per
aircraft, flight after flight, in flight order.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from nubo.bleed import words
from nubo.bleed.model import (
    CHANNEL_CODES,
    CHANNELS,
    WITHIN_FLOOR,
    Artefact,
    Finding,
    Status,
    load_artefact,
)

TrendState = dict[str, Any]
# Asymmetry is left to the per-flight rules: it is one number shared by both engines, so a
# trend on it could not say which engine is drifting; each engine's own residuals can. Its
# reference is still learned, so the rule can take out the pair's normal difference.
TREND_CHANNELS = tuple(c for c in CHANNELS if not c.startswith("asym"))
SCORE = "score"
LEARNED = (*CHANNELS, SCORE)
STATE_VERSION = 2
WARMUP = 5
LAMBDA = 0.25  # EWMA weight of the newest flight
EWMA_LIMIT = 3.0  # in units of the EWMA's own standard deviation
CUSUM_K = 1.0  # slack, in σ
CUSUM_H = 10.0  # decision interval, in σ
SCORE_SIGMA = 4.0  # flight-to-flight spread of a healthy engine's score, points
# Below these absolute shifts nothing is raised, however consistent: physically irrelevant.
MIN_SHIFT = {
    "press_res_ip": 1.2,
    "press_res_hp": 1.5,
    "temp_res_hi": 5.0,
    "temp_res_lo": 5.0,
    "asym_press": 1.5,
    "asym_temp": 6.0,
    "press_off": 1.2,
    SCORE: 10.0,
}
FLAGGED = "flagged"  # residual key: the flight had a finding on this engine (not learned)


def new_state() -> TrendState:
    return {"version": STATE_VERSION, "flights": 0, "engines": {}}


def reset_engine(state: TrendState, engine: int | str) -> TrendState:
    """A copy of the state with one engine forgotten, e.g. after an engine or valve change:
    its next flights learn a fresh reference."""
    st = _copy(state)
    st["engines"].pop(str(engine), None)
    return st


def references(state: TrendState | None) -> dict[int, dict[str, float]]:
    """Each engine's learned reference per channel (channels still learning are absent)."""
    out: dict[int, dict[str, float]] = {}
    for e, chans in (state or {}).get("engines", {}).items():
        out[int(e)] = {c: ch["ref"] for c, ch in chans.items() if ch.get("ref") is not None}
    return out


def _channel() -> dict[str, Any]:
    return {
        "n": 0,
        "learned": 0,
        "ref_sum": 0.0,
        "ref": None,
        "ewma": 0.0,
        "cusum_pos": 0.0,
        "cusum_neg": 0.0,
        "last": None,
        "since": None,
    }


def _step(ch: dict[str, Any], value: float, sigma: float, clean: bool) -> None:
    ch["n"] += 1
    ch["last"] = value
    if ch["ref"] is None:
        if clean:  # a reference is learned from flights nothing was found on
            ch["learned"] += 1
            ch["ref_sum"] += value
            if ch["learned"] >= WARMUP:
                ch["ref"] = ch["ref_sum"] / ch["learned"]
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


def _sigma(name: str, art: Artefact) -> float:
    if name == SCORE:
        return SCORE_SIGMA
    return max(art.sigma_within.get(name, 1.0), WITHIN_FLOOR[name])


def update_trend(
    state: TrendState | None,
    flight_residuals: dict[int, dict[str, float | None]] | dict[str, dict[str, float | None]],
    artefact: Artefact | None = None,
) -> tuple[TrendState, list[dict[str, Any]], Status]:
    """Fold one flight's per-engine residuals (and `score`, `flagged`) into the trend.

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
        clean = not res.get(FLAGGED)
        for name in LEARNED:
            value = res.get(name)
            if value is None or not math.isfinite(value):
                continue
            sigma = _sigma(name, art)
            ch = chans.setdefault(name, _channel())
            _step(ch, float(value), sigma, clean)
            direction = 0 if name.startswith("asym") else _signal(ch, name, sigma)
            if name == SCORE and direction > 0:
                direction = 0  # a score that rises is no concern
            ch["since"] = (ch["since"] or st["flights"]) if direction else None
            if direction:
                findings.append(_finding(int(e), name, direction, ch, sigma, st, chans, art))
    findings = _dedupe(findings)
    return st, [f.to_dict() for f in findings], "watch" if findings else "normal"


def _worst_channel(chans: dict[str, Any], art: Artefact) -> tuple[str, int]:
    """The residual channel furthest from its reference on the EWMA: what a falling score
    is made of."""
    best, best_z = "press_res_ip", 0.0
    for name in TREND_CHANNELS:
        ch = chans.get(name)
        if ch and ch["ref"] is not None and abs(ch["ewma"]) > abs(best_z):
            best, best_z = name, ch["ewma"]
    return best, 1 if best_z >= 0 else -1


def _finding(
    e: int,
    name: str,
    direction: int,
    ch: dict[str, Any],
    sigma: float,
    st: TrendState,
    chans: dict[str, Any],
    art: Artefact,
) -> Finding:
    shift = ch["ewma"] * sigma
    flights = st["flights"] - ch["since"] + 1
    if name == SCORE:
        worst_name, worst_dir = _worst_channel(chans, art)
        code = CHANNEL_CODES[(worst_name, worst_dir)]
    else:
        code = CHANNEL_CODES[(name, direction)]
    text = words.deviation(e, name, shift, words.OWN_NORMAL, max(flights, 2))
    return Finding(
        engine=e,
        code=code,
        severity="watch",
        message=text.en,
        message_pt=text.pt,
        evidence={
            "channel": name,
            "trend_shift": round(shift, 2),
            "ewma_z": round(ch["ewma"], 2),
            "cusum": round(max(ch["cusum_pos"], ch["cusum_neg"]), 2),
            "reference": round(ch["ref"], 2),
            "flights": ch["n"],
            "signalling_flights": flights,
        },
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per engine and code: the channel with the largest shift speaks, a
    residual before the score (it says more)."""

    def weight(f: Finding) -> tuple[bool, float]:
        return f.evidence["channel"] != SCORE, abs(float(f.evidence["trend_shift"] or 0))

    best: dict[tuple[int | None, str], Finding] = {}
    for f in findings:
        key = (f.engine, f.code)
        if key not in best or weight(f) > weight(best[key]):
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


def channel_history(
    residuals_by_flight: list[dict[str, dict[str, float | None]]],
    artefact: Artefact,
    resets: Mapping[int, Collection[int | str]] | None = None,
) -> dict[str, dict[str, dict[str, list[float | None]]]]:
    """Replay the trend flight by flight and keep, per engine and channel, each flight's
    value, the EWMA and its control limits (in the channel's units, around the engine's
    reference) and the larger CUSUM (in σ); None while the engine learns its reference.
    `resets` names, by flight index, the engines whose reference restarted just before that
    flight (a replacement or a refit): from there the engine learns afresh."""
    ewma_sd = math.sqrt(LAMBDA / (2 - LAMBDA))
    state: TrendState | None = None
    out: dict[str, dict[str, dict[str, list[float | None]]]] = {}
    for n, residuals in enumerate(residuals_by_flight):
        for engine in (resets or {}).get(n, ()):
            state = reset_engine(state or new_state(), engine)
        state, _, _ = update_trend(state, residuals, artefact)
        for engine, channels in state["engines"].items():
            for name, ch in channels.items():
                series = out.setdefault(engine, {}).setdefault(name, _empty_history(n))
                sigma = _sigma(name, artefact)
                value = residuals.get(engine, {}).get(name)
                ref = ch["ref"]
                limit = EWMA_LIMIT * ewma_sd * sigma
                series["value"].append(value if value is None or math.isfinite(value) else None)
                series["ewma"].append(None if ref is None else ref + ch["ewma"] * sigma)
                series["upper"].append(None if ref is None else ref + limit)
                series["lower"].append(None if ref is None else ref - limit)
                series["cusum"].append(
                    None if ref is None else max(ch["cusum_pos"], ch["cusum_neg"])
                )
        for channels in out.values():  # channels this flight did not touch keep their place
            for series in channels.values():
                for values in series.values():
                    values.extend([None] * (n + 1 - len(values)))
    return out


def _empty_history(flights_before: int) -> dict[str, list[float | None]]:
    return {k: [None] * flights_before for k in ("value", "ewma", "upper", "lower", "cusum")}
