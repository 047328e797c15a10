"""Synthetic flights and fleets in the canonical upload format, with ramping bleed faults.

The physics is deliberately simple but consistent with what the analysis assumes: a PRV
regulating 45 psi on the intermediate stage (36 psi when the HP valve is open at low N2), a
precooler holding ~200 °C (150 °C at low demand), first-order sensor lags and noise.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from scipy.signal import lfilter

from nubo.bleed.aliases import ALIASES, ENGINES

FAULT_TYPES = (
    "prv_stuck_open",
    "prv_under_regulating",
    "hpv_stuck_closed",
    "precooler_fouling",
    "duct_leak",
    "sensor_drift",
    "sensor_freeze",
)
OutFormat = Literal["csv", "csv.gz", "parquet", "mixed"]

HPV_OPEN_BELOW_N2 = 72.0
IP_SET_PSI, HP_SET_PSI = 45.0, 36.0
TEMP_SET_HIGH, TEMP_SET_LOW = 200.0, 150.0
SEVERE = 0.8  # severity at which a fault counts as "severe" for lead-time accounting


@dataclass(frozen=True)
class Fault:
    kind: str
    severity: float  # 0..1
    engine: int = 1


@dataclass(frozen=True)
class EngineBias:
    """Per-installation offsets: real engines never sit exactly on the nominal set-point.
    `noise` scales the sensor noise (another fleet's sensors are not ours)."""

    press: float = 0.0
    temp: float = 0.0
    noise: float = 1.0


@dataclass(frozen=True)
class FleetStyle:
    """How far a simulated fleet departs from the defaults: each engine's regulated pressure
    and precooler temperature are offset by a normal draw with sd `press_sd`/`temp_sd`, plus
    a uniform draw within ±`press_span`/±`temp_span` (another fleet, other physics);
    `noise` scales every bleed sensor's noise."""

    press_sd: float = 0.7
    temp_sd: float = 3.0
    press_span: float = 0.0
    temp_span: float = 0.0
    noise: float = 1.0
    healthy_share: float = 1 / 3
    ramp_scale: float = 1.0  # > 1: faults develop that many times more slowly

    def bias(self, rng: np.random.Generator) -> EngineBias:
        press, temp = rng.normal(0, self.press_sd), rng.normal(0, self.temp_sd)
        if self.press_span or self.temp_span:  # the default fleets keep their random stream
            press += rng.uniform(-self.press_span, self.press_span)
            temp += rng.uniform(-self.temp_span, self.temp_span)
        return EngineBias(press, temp, self.noise)


# --- flight profile ---------------------------------------------------------------------


def _profile(rng: np.random.Generator, duration_s: float, rate_hz: float) -> dict[str, np.ndarray]:
    """Altitude, speed and N2 schedule of one flight sampled at `rate_hz`."""
    elev0, elev1 = rng.uniform(0, 2500, size=2)
    cruise = float(rng.choice([31000, 33000, 35000, 37000, 39000]))
    seg = {
        "start": rng.uniform(60, 120),
        "taxi_out": rng.uniform(300, 900),
        "roll": rng.uniform(35, 45),
        "land": rng.uniform(35, 50),
        "taxi_in": rng.uniform(180, 600),
        "stop": rng.uniform(40, 90),
    }
    climb_s = (cruise - elev0) / rng.uniform(1700, 2300) * 60
    desc_s = (cruise - elev1 - 3000) / rng.uniform(1900, 2500) * 60
    appr_s = 3000 / rng.uniform(700, 900) * 60
    fixed = sum(seg.values()) + climb_s + desc_s + appr_s
    cruise_s = max(duration_s - fixed, 600.0)
    knots = [
        ("start", seg["start"]),
        ("taxi_out", seg["taxi_out"]),
        ("roll", seg["roll"]),
        ("climb", climb_s),
        ("cruise", cruise_s),
        ("descent", desc_s),
        ("approach", appr_s),
        ("land", seg["land"]),
        ("taxi_in", seg["taxi_in"]),
        ("stop", seg["stop"]),
    ]
    total = sum(d for _, d in knots)
    t = np.arange(0.0, total, 1.0 / rate_hz)
    alt = np.empty_like(t)
    cas = np.empty_like(t)
    n2 = np.empty_like(t)
    seg_id = np.empty(t.size, dtype=np.int8)
    start = 0.0
    for i, (name, dur) in enumerate(knots):
        m = (t >= start) & (t < start + dur)
        u = (t[m] - start) / dur
        a, c, n = _segment(name, u, elev0, elev1, cruise, rng)
        alt[m], cas[m], n2[m], seg_id[m] = a, c, n, i
        start += dur
    n2 = n2 + rng.normal(0, 0.15, t.size)
    return {"t": t, "alt": alt, "cas": cas, "n2": n2, "seg": seg_id}


def _segment(name: str, u: np.ndarray, elev0: float, elev1: float, cruise: float, rng):
    one = np.ones_like(u)
    if name == "start":
        return elev0 * one, 0 * one, 61 * np.clip(u * 1.6, 0, 1)
    if name == "taxi_out":
        return elev0 * one, 8 + 6 * np.sin(u * 9) ** 2, 61 + 2 * np.sin(u * 13) ** 2
    if name == "roll":
        return elev0 * one, 155 * u, 95 + 1.5 * one
    if name == "climb":
        shape = (1 - np.exp(-2.2 * u)) / (1 - np.exp(-2.2))
        alt = elev0 + (cruise - elev0) * shape
        cas = np.where(alt < 10000, 160 + 90 * np.clip(u * 6, 0, 1), 290 - 30 * (alt / cruise))
        return alt, cas, 94 - 3 * u
    if name == "cruise":
        step = np.where(u > 0.5, 2000.0 if cruise <= 37000 else 0.0, 0.0)
        return (
            cruise + step + 40 * np.sin(u * 50),
            255 + 5 * np.sin(u * 7),
            86 + 1.5 * np.sin(u * 5),
        )
    if name == "descent":
        top = cruise + (2000.0 if cruise <= 37000 else 0.0)
        alt = top + (elev1 + 3000 - top) * u
        return alt, 280 - 30 * u, 66 + 3 * (alt / top)
    if name == "approach":
        return elev1 + 3000 * (1 - u), 250 - 110 * np.clip(u * 1.5, 0, 1), 74 + 2 * np.sin(u * 20)
    if name == "land":
        return elev1 * one, 140 * (1 - u) ** 1.5 + 10 * u, np.where(u < 0.35, 82, 62)
    if name == "taxi_in":
        return elev1 * one, 8 + 6 * np.sin(u * 11) ** 2, 61 + 2 * np.sin(u * 17) ** 2
    return elev1 * one, 0 * one, 61 * np.clip(1 - u * 1.5, 0, 1)  # shutdown


def _atmosphere(alt: np.ndarray, cas: np.ndarray, dev: float) -> tuple[np.ndarray, np.ndarray]:
    """(mach, TAT °C) from a crude ISA with a temperature deviation."""
    sat_k = np.maximum(288.15 - 1.98 * alt / 1000, 216.65) + dev
    tas = cas * (1 + 0.02 * np.maximum(alt, 0) / 1000)
    mach = np.clip(tas / (38.967854 * np.sqrt(sat_k)), 0, 0.9)
    tat = sat_k * (1 + 0.2 * mach**2) - 273.15
    return mach, tat


def _lag(x: np.ndarray, tau_s: float, rate_hz: float) -> np.ndarray:
    """First-order sensor/thermal lag (an exponential filter starting at the first value)."""
    a = 1.0 - np.exp(-1.0 / (tau_s * rate_hz))
    out, _ = lfilter([a], [1.0, a - 1.0], x, zi=[(1.0 - a) * x[0]])
    return np.asarray(out)


# --- bleed physics ----------------------------------------------------------------------


def _engine(
    rng: np.random.Generator,
    prof: dict[str, np.ndarray],
    tat: np.ndarray,
    rate_hz: float,
    n2: np.ndarray,
    bias: EngineBias,
    fault: Fault | None,
    anti_ice: np.ndarray,
) -> dict[str, np.ndarray]:
    t, alt = prof["t"], prof["alt"]
    kind, s = (fault.kind, fault.severity) if fault else ("", 0.0)
    running = n2 > 50
    prv = running.astype(float)
    hpv_cmd = running & (n2 < HPV_OPEN_BELOW_N2)
    pamb = (1 - 6.8756e-6 * np.maximum(alt, 0)) ** 5.2559
    source = 14 + 1.5 * np.clip(n2 - 50, 0, None) * (0.6 + 0.4 * pamb)
    demand = np.clip((n2 - 55) / 40, 0, 1)

    set_p = np.where(hpv_cmd, HP_SET_PSI, IP_SET_PSI) + bias.press
    press = set_p.copy()
    hpv_pos = hpv_cmd.astype(float)
    if kind == "prv_stuck_open":
        press = press + s * np.clip(source - set_p, 0, None)
    elif kind == "prv_under_regulating":
        press = press * (1 - 0.45 * s)
    elif kind == "hpv_stuck_closed":
        opening = 1 - s
        ip_only = np.minimum(source * 0.8, set_p)
        press = np.where(hpv_cmd, opening * press + (1 - opening) * ip_only, press)
        hpv_pos = hpv_cmd * (opening > 0.5)
    elif kind == "duct_leak":
        press = press - s * 9 * (0.4 + demand)
    # The HP stage supplies far more pressure than the IP stage when its valve is open.
    supply = np.where(hpv_pos > 0.5, 1.6 * source, source)
    press = np.where(running, np.minimum(press, supply), 0.3)
    press = _lag(press, 3.0, rate_hz) + rng.normal(
        0, 0.4 * bias.noise + (1.5 * s if kind == "prv_under_regulating" else 0), t.size
    )

    low_demand = (n2 < 75) & ~anti_ice
    temp = np.where(low_demand, TEMP_SET_LOW, TEMP_SET_HIGH) + 0.12 * tat + bias.temp
    if kind == "precooler_fouling":
        temp = temp + s * 70 * demand
    elif kind == "duct_leak":
        temp = temp + s * 12 * demand
    temp = np.where(running, temp, np.maximum(tat, 15))
    temp = _lag(temp, 25.0, rate_hz) + rng.normal(0, 1.5 * bias.noise, t.size)

    if kind == "sensor_drift":
        press = press + s * 11 + rng.normal(0, 0.8 * s, t.size)
    elif kind == "sensor_freeze" and s > 0:
        span = int(s * 0.6 * t.size)
        at = int(rng.integers(0, max(t.size - span, 1)))
        press[at : at + span] = press[at]

    ovht = (temp >= 257).astype(float)
    fault_w = ((press > 60) | (running & (press < 18) & (t > 200))).astype(float)
    leak_w = np.zeros(t.size)
    if kind == "duct_leak" and s > 0.85:
        at = int(rng.integers(0, t.size // 2))
        leak_w[at : at + int(30 * rate_hz)] = 1
    pack = np.where(running, 0.45 + 0.1 * demand, 0) - (0.2 * s if kind == "duct_leak" else 0)
    return {
        "n1_pct": np.clip(
            np.clip(20 + 1.9 * (n2 - 55), 0, None) * running + rng.normal(0, 0.1, t.size), 0, None
        ),
        "bleed_press_psi": np.clip(press, 0, None),
        "precooler_out_temp_degc": temp,
        "prv_open": prv,
        "hpv_open": hpv_pos,
        "bleed_fault": fault_w,
        "bleed_ovht": ovht,
        "bleed_leak": leak_w,
        "eai_on": anti_ice.astype(float),
        "pack_flow_kgs": np.clip(pack + rng.normal(0, 0.01, t.size), 0, 2),
    }


def simulate_flight(
    *,
    seed: int | None = None,
    duration_h: float | None = None,
    rate_hz: float = 8.0,
    fault: Fault | None = None,
    biases: dict[int, EngineBias] | None = None,
    extra_columns: int = 0,
) -> pl.DataFrame:
    """One flight at `rate_hz` with canonical column names (`time_s` first)."""
    rng = np.random.default_rng(seed)
    duration_s = 3600 * (duration_h if duration_h is not None else rng.uniform(1, 3))
    prof = _profile(rng, duration_s, rate_hz)
    t = prof["t"]
    mach, tat = _atmosphere(prof["alt"], prof["cas"], rng.normal(0, 8))
    icing = rng.random() < 0.25
    anti_ice = icing & (tat < 8) & (prof["alt"] > 2000) & (prof["seg"] >= 5)
    cols: dict[str, np.ndarray] = {
        "time_s": t,
        "alt_std_ft": prof["alt"] + rng.normal(0, 8, t.size),
        "cas_kt": np.clip(prof["cas"] + rng.normal(0, 0.8, t.size), 0, None),
        "mach": mach,
        "tat_degc": tat + rng.normal(0, 0.3, t.size),
        "wow": ((prof["seg"] <= 2) | (prof["seg"] >= 7)).astype(float),
        "wai_on": anti_ice.astype(float),
        "xbleed_open": np.zeros(t.size),
        "apu_bleed_open": (prof["seg"] == 0).astype(float),
        "cabin_dp_psi": np.clip(8.0 * np.clip(prof["alt"] / 30000, 0, 1), -1, 9.5),
    }
    biases = biases or {}
    for e in ENGINES:
        n2 = prof["n2"] + rng.normal(0, 0.3) + (0.0 if e == 1 else rng.normal(0, 0.3))
        eng_fault = fault if fault and fault.engine == e and fault.severity > 0 else None
        sig = _engine(rng, prof, tat, rate_hz, n2, biases.get(e, EngineBias()), eng_fault, anti_ice)
        cols[f"eng{e}_n2_pct"] = np.clip(n2, 0, None)
        for k, v in sig.items():
            name = f"pack{e}_flow_kgs" if k == "pack_flow_kgs" else f"eng{e}_{k}"
            cols[name] = v
    for j in range(extra_columns):
        cols[f"QAR_PARAM_{j:04d}"] = rng.normal(0, 1, t.size).astype(np.float32)
    return pl.DataFrame(cols)


# --- writing ----------------------------------------------------------------------------

_REVERSE_ALIASES = {v: k.upper() for k, v in ALIASES["default"].items()}


def write_flight(
    df: pl.DataFrame,
    path: Path,
    *,
    fmt: Literal["csv", "csv.gz", "parquet"] = "csv",
    delimiter: str = ",",
    aliased: bool = False,
    iso_time: bool = False,
    start: datetime | None = None,
) -> Path:
    """Write a simulated flight as a user would upload it."""
    if aliased:
        df = df.rename({c: _REVERSE_ALIASES[c] for c in df.columns if c in _REVERSE_ALIASES})
    if iso_time:
        base = start or datetime(2026, 1, 1, tzinfo=UTC)
        df = df.with_columns(
            (pl.lit(base) + pl.duration(microseconds=(pl.col("time_s") * 1e6).cast(pl.Int64)))
            .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .alias("time_s")
        ).rename({"time_s": "timestamp"})
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        df.write_parquet(path)
    elif fmt == "csv.gz":
        df.write_csv(
            path, separator=delimiter, float_precision=3, compression="gzip", compression_level=3
        )
    else:
        df.write_csv(path, separator=delimiter, float_precision=3)
    return path


# --- fleets -----------------------------------------------------------------------------


def fault_plan(
    rng: np.random.Generator,
    aircraft: int,
    flights: int,
    healthy_share: float = 1 / 3,
    ramp_scale: float = 1.0,
) -> list[dict[str, object]]:
    """One plan per aircraft: `healthy_share` of them stay healthy (evenly interleaved),
    the rest get one ramping fault, the fault types in turn."""
    share = Fraction(healthy_share).limit_denominator(100)
    plans: list[dict[str, object]] = []
    faulty = 0
    for a in range(aircraft):
        n, d = share.numerator, share.denominator
        if (a + 1) * n // d > a * n // d:
            plans.append({"kind": "none"})
            continue
        kind = FAULT_TYPES[faulty % len(FAULT_TYPES)]
        faulty += 1
        onset = int(rng.integers(int(flights * 0.25), int(flights * 0.45) + 1))
        ramp = int(rng.integers(max(flights // 3, 8), max(flights // 2, 10) + 1) * ramp_scale)
        plans.append(
            {"kind": kind, "onset": onset, "ramp": ramp, "engine": int(rng.integers(1, 3))}
        )
    return plans


def severity_at(plan: dict[str, object], flight: int) -> float:
    if plan["kind"] == "none":
        return 0.0
    onset, ramp = int(plan["onset"]), int(plan["ramp"])  # type: ignore[call-overload]
    return float(np.clip((flight - onset + 1) / ramp, 0.0, 1.0))


def simulate_fleet(
    out_dir: str | Path,
    aircraft: int = 6,
    flights: int = 40,
    seed: int = 0,
    fmt: OutFormat = "mixed",
    rates_hz: tuple[float, ...] = (1, 2, 4, 8),
    hours: tuple[float, float] = (1.0, 3.0),
    progress: Callable[[], None] | None = None,
    style: FleetStyle | None = None,
) -> Path:
    """Write `aircraft × flights` files plus `labels.csv`; returns the labels path.

    `fmt="mixed"` varies format, delimiter, header aliases and time encoding per file the
    way a real customer's uploads do; otherwise every file is plain canonical `fmt`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    style = style or FleetStyle()
    plans = fault_plan(rng, aircraft, flights, style.healthy_share, style.ramp_scale)
    rows = []
    for a, plan in enumerate(plans):
        tail = f"AC{a + 1:03d}"
        biases = {e: style.bias(rng) for e in ENGINES}
        for k in range(flights):
            sev = severity_at(plan, k)
            kind = str(plan["kind"]) if sev > 0 else "none"
            engine = int(plan.get("engine", 0)) if sev > 0 else 0  # type: ignore[call-overload]
            df = simulate_flight(
                seed=int(rng.integers(2**31)),
                rate_hz=float(rng.choice(rates_hz)),
                duration_h=float(rng.uniform(*hours)),
                fault=Fault(kind, sev, engine) if sev > 0 else None,
                biases=biases,
            )
            f_fmt, opts = _file_style(rng, fmt)
            name = f"{tail}_{k:04d}.{f_fmt}"
            start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=8 * k)
            write_flight(df, out / name, fmt=f_fmt, start=start, **opts)
            rows.append([name, tail, k, kind, round(sev, 4), engine])
            if progress is not None:
                progress()
    labels = out / "labels.csv"
    with labels.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "aircraft", "flight_index", "fault_type", "severity", "engine"])
        w.writerows(rows)
    return labels


def _file_style(rng: np.random.Generator, fmt: OutFormat):
    if fmt != "mixed":
        return fmt, {}
    r = rng.random()
    f_fmt = "parquet" if r < 0.15 else "csv.gz" if r < 0.35 else "csv"
    opts = {}
    if f_fmt != "parquet":
        opts = {
            "delimiter": ";" if rng.random() < 0.25 else ",",
            "aliased": bool(rng.random() < 0.25),
            "iso_time": bool(rng.random() < 0.2),
        }
    return f_fmt, opts
