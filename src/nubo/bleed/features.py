"""Per-engine, per-phase bleed features and the per-engine residual summary.

Everything is computed on the 1 Hz frame from `read.read_flight`. Residuals compare each
second with the baseline expectation for its operating condition, and only on "steady"
seconds: valve mode changes and thrust transients are left to settle first, because the
thermal lag of the precooler (tens of seconds) would otherwise dominate the residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from nubo.bleed.aliases import ENGINES
from nubo.bleed.baseline import HP_REGIME_BELOW_N2, LOW_DEMAND_BELOW_N2, Baseline, design
from nubo.bleed.phases import PHASES, Phase, phase_labels

IP_SET_PSI, IP_TOL_PSI = 45.0, 5.0
HP_SET_PSI, HP_TOL_PSI = 36.0, 4.0
OVERPRESSURE_PSI = 60.0
TEMP_HIGH_DEGC = 240.0
TEMP_SHUT_DEGC = 257.0
RUNNING_N2 = 50.0
ENGINE_OFF_N2 = 20.0
MATCHED_N2 = 1.5
PRESS_SETTLE_S = 20
TEMP_SETTLE_S = 90
FROZEN_MIN_N2_RANGE = 5.0
FROZEN_ALWAYS_S = 120  # no live sensor repeats the exact same 1 Hz mean for this long

_SIGNALS = {
    "n2": "eng{e}_n2_pct",
    "press": "eng{e}_bleed_press_psi",
    "temp": "eng{e}_precooler_out_temp_degc",
    "prv": "eng{e}_prv_open",
    "hpv": "eng{e}_hpv_open",
    "w_fault": "eng{e}_bleed_fault",
    "w_ovht": "eng{e}_bleed_ovht",
    "w_leak": "eng{e}_bleed_leak",
    "eai": "eng{e}_eai_on",
}
SUMMARY_KEYS = (
    "press_res_ip",
    "press_res_hp",
    "temp_res_hi",
    "temp_res_lo",
    "asym_press",
    "asym_temp",
    "press_off",
    "press_frozen_s",
    "temp_frozen_s",
    "press_osc",
    "press_over_s",
    "press_low_ip_s",
    "press_low_hp_s",
    "hpv_closed_low_n2_share",
    "temp_high_s",
    "temp_shut_s",
    "w_fault_s",
    "w_ovht_s",
    "w_leak_s",
    "active_s",
    "steady_ip_s",
    "steady_hp_s",
)


@dataclass
class FlightFeatures:
    table: pl.DataFrame  # one row per engine × phase
    summary: dict[int, dict[str, float | None]]  # per engine, keys in SUMMARY_KEYS


def _col(df: pl.DataFrame, name: str, default: float = np.nan) -> np.ndarray:
    if name not in df.columns:
        return np.full(df.height, default)
    return df[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _ffill(x: np.ndarray) -> np.ndarray:
    """Carry the last valid value over gaps (discretes keep their state between samples)."""
    idx = np.where(np.isfinite(x), np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    return out


def _settled(flag: np.ndarray, window: int) -> np.ndarray:
    """True where `flag` has not changed during the previous `window` seconds."""
    change = np.zeros(flag.size, dtype=bool)
    change[1:] = flag[1:] != flag[:-1]
    last_change = np.where(change, np.arange(flag.size), -(10**9))
    np.maximum.accumulate(last_change, out=last_change)
    return np.arange(flag.size) - last_change >= window


def _stable(x: np.ndarray, window: int, tol: float) -> np.ndarray:
    lagged = (
        np.concatenate([np.full(window, np.nan), x[:-window]]) if x.size > window else x * np.nan
    )
    with np.errstate(invalid="ignore"):
        return np.abs(x - lagged) < tol


def engine_seconds(df: pl.DataFrame, e: int, baseline: Baseline) -> dict[str, np.ndarray]:
    """Per-second signals and residuals for engine `e`."""
    s = {k: _col(df, v.format(e=e)) for k, v in _SIGNALS.items()}
    other = 3 - e
    n2, press, temp = s["n2"], s["press"], s["temp"]
    with np.errstate(invalid="ignore"):
        running = n2 > RUNNING_N2
        prv = _ffill(s["prv"])
        active = running & ~(prv < 0.5)
        hp_expected = n2 < HP_REGIME_BELOW_N2
        hpv = _ffill(s["hpv"])
        hp_mode = np.where(np.isfinite(hpv), hpv >= 0.5, hp_expected)
        anti_ice = np.fmax(_ffill(s["eai"]), _ffill(_col(df, "wai_on")))
        anti_ice = np.where(np.isfinite(anti_ice), anti_ice, 0.0)
        low_demand = (n2 < LOW_DEMAND_BELOW_N2) & (anti_ice < 0.5)
        alt, tat = _ffill(_col(df, "alt_std_ft")), _ffill(_col(df, "tat_degc"))
        x = design(n2, alt, tat, hp_mode.astype(float), anti_ice)
        press_exp, temp_exp = baseline.predict(x)
        x_hp = design(n2, alt, tat, np.ones_like(n2), anti_ice)
        press_exp_hp, _ = baseline.predict(x_hp)
        n2_steady = _stable(n2, 10, 2.0)
        steady_p = active & _settled(hp_mode, PRESS_SETTLE_S) & n2_steady
        steady_t = active & _settled(low_demand, TEMP_SETTLE_S) & _stable(n2, 60, 4.0)
        o_n2 = _col(df, f"eng{other}_n2_pct")
        matched = steady_p & (np.abs(n2 - o_n2) < MATCHED_N2)
        set_p = np.where(hp_mode, HP_SET_PSI, IP_SET_PSI)
        tol = np.where(hp_mode, HP_TOL_PSI, IP_TOL_PSI)
    return {
        "x": x,
        "n2": n2,
        "press": press,
        "temp": temp,
        "running": running,
        "active": active,
        "hp_mode": hp_mode,
        "hp_expected": hp_expected,
        "hpv": hpv,
        "prv": prv,
        "low_demand": low_demand,
        "steady_p": steady_p,
        "steady_t": steady_t,
        "matched": matched,
        "set_p": set_p,
        "tol_p": tol,
        "press_res": press - press_exp,
        "press_res_hp": press - press_exp_hp,
        "temp_res": temp - temp_exp,
        "asym_press": np.where(matched, press - _col(df, f"eng{other}_bleed_press_psi"), np.nan),
        "asym_temp": np.where(
            matched, temp - _col(df, f"eng{other}_precooler_out_temp_degc"), np.nan
        ),
        "w_fault": s["w_fault"],
        "w_ovht": s["w_ovht"],
        "w_leak": s["w_leak"],
    }


def _per_second_frame(sec: dict[str, np.ndarray], labels: np.ndarray) -> pl.DataFrame:
    with np.errstate(invalid="ignore"):
        act = sec["active"]
        press, temp, set_p, tol = sec["press"], sec["temp"], sec["set_p"], sec["tol_p"]
        steady_p, steady_t = sec["steady_p"], sec["steady_t"]
        osc = press - _rolling_mean(press, 15)
        cols = {
            "phase": np.where(labels >= 0, labels, np.nan),
            "active": act,
            "press": np.where(act, press, np.nan),
            "temp": np.where(act, temp, np.nan),
            "press_err": np.where(act, press - set_p, np.nan),
            "above_band": act & steady_p & (press > set_p + tol),
            "below_band": act & steady_p & (press < set_p - tol),
            "over": act & (press > OVERPRESSURE_PSI),
            "temp_high": act & (temp >= TEMP_HIGH_DEGC),
            "temp_shut": temp >= TEMP_SHUT_DEGC,
            "press_res": np.where(steady_p, sec["press_res"], np.nan),
            "temp_res": np.where(steady_t, sec["temp_res"], np.nan),
            "asym_press": sec["asym_press"],
            "asym_temp": sec["asym_temp"],
            "hpv_open": np.where(act, sec["hp_mode"].astype(float), np.nan),
            "osc": np.where(steady_p, osc, np.nan),
            "w_fault": sec["w_fault"] >= 0.5,
            "w_ovht": sec["w_ovht"] >= 0.5,
            "w_leak": sec["w_leak"] >= 0.5,
        }
    # Series one by one: a dict of numpy arrays makes Polars spin up a thread pool per frame.
    return pl.DataFrame([pl.Series(k, v, nan_to_null=True) for k, v in cols.items()])


def _rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    return (
        pl.Series(x, nan_to_null=True)
        .rolling_mean(window, min_samples=1, center=True)
        .fill_null(np.nan)
        .to_numpy()
    )


def _phase_table(frame: pl.DataFrame, e: int) -> pl.DataFrame:
    return (
        frame.filter(pl.col("phase").is_not_null())
        .group_by("phase", maintain_order=True)
        .agg(
            pl.len().alias("seconds"),
            pl.col("active").sum().alias("active_s"),
            pl.col("press").mean().alias("press_mean"),
            pl.col("press").std().alias("press_std"),
            pl.col("press_err").mean().alias("press_err_mean"),
            pl.col("temp").mean().alias("temp_mean"),
            pl.col("temp").max().alias("temp_max"),
            pl.col("above_band").sum().alias("press_above_band_s"),
            pl.col("below_band").sum().alias("press_below_band_s"),
            pl.col("over").sum().alias("press_over_s"),
            pl.col("temp_high").sum().alias("temp_high_s"),
            pl.col("temp_shut").sum().alias("temp_shut_s"),
            pl.col("press_res").mean().alias("press_res_mean"),
            pl.col("temp_res").mean().alias("temp_res_mean"),
            pl.col("asym_press").mean().alias("asym_press_mean"),
            pl.col("asym_temp").mean().alias("asym_temp_mean"),
            pl.col("hpv_open").mean().alias("hpv_open_share"),
            (pl.col("hpv_open").diff().abs() > 0.5).sum().alias("hpv_switches"),
            pl.col("osc").std().alias("press_osc"),
            pl.col("w_fault").sum().alias("w_fault_s"),
            pl.col("w_ovht").sum().alias("w_ovht_s"),
            pl.col("w_leak").sum().alias("w_leak_s"),
        )
        .with_columns(
            pl.lit(e, dtype=pl.Int8).alias("engine"),
            # Grouped on the phase index (cheap); names only for the few output rows.
            pl.col("phase")
            .cast(pl.Int64)
            .replace_strict(list(range(len(PHASES))), list(PHASES), return_dtype=pl.String),
        )
        .select("engine", pl.exclude("engine"))
    )


def _nanmean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None


def frozen_seconds(value: np.ndarray, n2: np.ndarray, active: np.ndarray) -> float:
    """Longest run of an unchanged reading while the engine clearly changed condition."""
    ok = np.isfinite(value) & active
    if ok.sum() < 2:
        return 0.0
    change = np.ones(value.size, dtype=bool)
    change[1:] = (value[1:] != value[:-1]) | ~ok[1:] | ~ok[:-1]
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, value.size))
    n2f = np.where(np.isfinite(n2), n2, np.nan)
    span = np.fmax.reduceat(n2f, starts) - np.fmin.reduceat(n2f, starts)
    with np.errstate(invalid="ignore"):
        frozen = ok[starts] & (
            ((span >= FROZEN_MIN_N2_RANGE) & (lengths > 1)) | (lengths >= FROZEN_ALWAYS_S)
        )
    return float(lengths[frozen].max()) if frozen.any() else 0.0


def _summary(
    sec: dict[str, np.ndarray], masked: dict[str, float], e: int
) -> dict[str, float | None]:
    with np.errstate(invalid="ignore"):
        act, n2, press = sec["active"], sec["n2"], sec["press"]
        ip = sec["steady_p"] & ~sec["hp_mode"] & (n2 >= HP_REGIME_BELOW_N2 + 3)
        hp = sec["steady_p"] & sec["hp_expected"] & (n2 <= HP_REGIME_BELOW_N2 - 3)
        hi = sec["steady_t"] & ~sec["low_demand"]
        lo = sec["steady_t"] & sec["low_demand"]
        off = (n2 < ENGINE_OFF_N2) & ~(sec["prv"] >= 0.5)
        low_n2 = act & (n2 <= HP_REGIME_BELOW_N2 - 3)
        osc = (press - _rolling_mean(press, 15))[sec["steady_p"]]
        hpv_known = np.isfinite(sec["hpv"]) & low_n2
        out: dict[str, float | None] = {
            "press_res_ip": _nanmean(sec["press_res"][ip]),
            "press_res_hp": _nanmean(sec["press_res_hp"][hp]),
            "temp_res_hi": _nanmean(sec["temp_res"][hi]),
            "temp_res_lo": _nanmean(sec["temp_res"][lo]),
            "asym_press": _nanmean(sec["asym_press"]),
            "asym_temp": _nanmean(sec["asym_temp"]),
            "press_off": float(np.nanmedian(press[off])) if np.isfinite(press[off]).any() else None,
            "press_frozen_s": frozen_seconds(press, n2, act),
            "temp_frozen_s": frozen_seconds(sec["temp"], n2, act),
            "press_osc": float(np.nanstd(osc)) if np.isfinite(osc).sum() > 30 else None,
            "press_over_s": float(np.sum(act & (press > OVERPRESSURE_PSI))),
            "press_low_ip_s": float(np.sum(ip & (press < IP_SET_PSI - IP_TOL_PSI))),
            "press_low_hp_s": float(np.sum(hp & (press < HP_SET_PSI - HP_TOL_PSI))),
            "hpv_closed_low_n2_share": (
                float(np.mean(sec["hpv"][hpv_known] < 0.5)) if hpv_known.sum() > 30 else None
            ),
            "temp_high_s": float(np.sum(act & (sec["temp"] >= TEMP_HIGH_DEGC))),
            "temp_shut_s": float(np.sum(sec["temp"] >= TEMP_SHUT_DEGC)),
            "w_fault_s": float(np.nansum(sec["w_fault"] >= 0.5)),
            "w_ovht_s": float(np.nansum(sec["w_ovht"] >= 0.5)),
            "w_leak_s": float(np.nansum(sec["w_leak"] >= 0.5)),
            "active_s": float(act.sum()),
            "steady_ip_s": float(ip.sum()),
            "steady_hp_s": float(hp.sum()),
            "press_masked": masked.get(f"eng{e}_bleed_press_psi", 0.0),
            "temp_masked": masked.get(f"eng{e}_precooler_out_temp_degc", 0.0),
        }
    return out


def compute_features(
    df: pl.DataFrame,
    phases: list[Phase],
    baseline: Baseline,
    masked_share: dict[str, float] | None = None,
) -> FlightFeatures:
    """Features for both engines of a 1 Hz flight frame."""
    labels = phase_labels(df.height, phases)
    tables, summary = [], {}
    for e in ENGINES:
        sec = engine_seconds(df, e, baseline)
        tables.append(_phase_table(_per_second_frame(sec, labels), e))
        summary[e] = _summary(sec, masked_share or {}, e)
    return FlightFeatures(pl.concat(tables, how="vertical_relaxed"), summary)
