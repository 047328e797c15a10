"""Where in the flight each finding was seen.

A finding rests on some seconds of the 1 Hz frame: the seconds a limit was crossed or a
warning recorded, the run a sensor stayed frozen, or, for a residual (a mean over a steady
regime), the seconds that mean was taken over. Each finding gets the span of those seconds
(`start_s`, `end_s`, seconds from the flight's first sample), how many seconds inside the
span count (`seconds`) and the phase holding most of them (`phase`). A finding with no
engine, or whose seconds cannot be found, keeps nulls.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nubo.bleed.features import (
    OVERPRESSURE_PSI,
    TEMP_HIGH_DEGC,
    TEMP_SHUT_DEGC,
    frozen_run,
    regimes,
)
from nubo.bleed.phases import PHASES, Phase, phase_labels

# The mask a finding's evidence points to: the first evidence key present decides; a key
# listed with a code decides only for that code.
_BY_EVIDENCE: tuple[tuple[str, str | None, str], ...] = (
    ("channel", None, "<channel>"),
    ("leak_s", "leak", "leak_warning"),
    ("fault_s", None, "warning"),
    ("over_s", None, "over"),
    ("shut_s", None, "temp_shut"),
    ("high_s", None, "temp_high"),
    ("residual_psi", "hpv_fault", "press_res_hp"),
    ("residual_psi", None, "press_res_ip"),
    ("residual_degc", None, "temp_res_hi"),
    ("press_frozen_s", None, "frozen"),
    ("press_off_psi", None, "press_off"),
    ("masked_share", None, "masked"),
    ("difference", None, "matched"),
)
PLACE_KEYS = ("start_s", "end_s", "seconds", "phase")


def _run(n: int, start: int, length: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[start : start + length] = True
    return mask


def engine_masks(sec: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per second, the conditions a finding of this engine can rest on."""
    press, temp, n2, act = sec["press"], sec["temp"], sec["n2"], sec["active"]
    n = press.size
    with np.errstate(invalid="ignore"):
        masks = {
            **regimes(sec),
            "warning": (sec["w_fault"] >= 0.5) | (sec["w_ovht"] >= 0.5) | (sec["w_leak"] >= 0.5),
            "leak_warning": sec["w_leak"] >= 0.5,
            "over": act & (press > OVERPRESSURE_PSI),
            "temp_shut": temp >= TEMP_SHUT_DEGC,
            "temp_high": act & (temp >= TEMP_HIGH_DEGC),
            "frozen": _run(n, *frozen_run(press, n2, act)) | _run(n, *frozen_run(temp, n2, act)),
            "masked": sec["running"] & ~(np.isfinite(press) & np.isfinite(temp)),
            "matched": sec["matched"],
            "asym_press": np.isfinite(sec["asym_press"]),
            "asym_temp": np.isfinite(sec["asym_temp"]),
            "score": act,
        }
    masks["press_off"] = masks["press_off"] & np.isfinite(press)
    return masks


def _mask_name(finding: dict[str, Any]) -> str | None:
    evidence = finding.get("evidence") or {}
    for key, code, name in _BY_EVIDENCE:
        if key in evidence and (code is None or finding.get("code") == code):
            return str(evidence[key]) if name == "<channel>" else name
    return None


def place(mask: np.ndarray | None, time: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The span of the True seconds of `mask` and the phase holding most of them."""
    idx = np.flatnonzero(mask) if mask is not None else np.empty(0, dtype=np.intp)
    if idx.size == 0:
        return dict.fromkeys(PLACE_KEYS)
    inside = labels[idx]
    inside = inside[inside >= 0]
    phase = PHASES[int(np.bincount(inside).argmax())] if inside.size else None
    return {
        "start_s": float(time[idx[0]]),
        "end_s": float(time[idx[-1]]),
        "seconds": int(idx.size),
        "phase": phase,
    }


def place_findings(
    findings: list[dict[str, Any]],
    seconds: dict[int, dict[str, np.ndarray]],
    phases: list[Phase],
    time: np.ndarray,
) -> list[dict[str, Any]]:
    """Each finding with its place in the flight (`PLACE_KEYS`, see the module doc)."""
    labels = phase_labels(time.size, phases)
    masks: dict[int, dict[str, np.ndarray]] = {}
    out = []
    for f in findings:
        e, name = f.get("engine"), _mask_name(f)
        mask = None
        if e in seconds and name is not None:
            if e not in masks:
                masks[e] = engine_masks(seconds[e])
            mask = masks[e].get(name)
        out.append({**f, **place(mask, time, labels)})
    return out
