"""The baseline: the same read → 1 Hz → phases → features computed the plain pandas way.

Deliberately what a careful engineer would write first with pandas: read the whole CSV,
coerce, sort, group to 1 Hz, then per-engine vectorised columns and a groupby per phase.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nubo.bleed.aliases import PARAMS, canonical_name
from nubo.bleed.baseline import HP_REGIME_BELOW_N2, LOW_DEMAND_BELOW_N2, Baseline, design
from nubo.bleed.features import IP_SET_PSI, OVERPRESSURE_PSI, TEMP_HIGH_DEGC

PHASES = ["taxi-out", "takeoff", "climb", "cruise", "descent", "approach", "landing", "taxi-in"]


def read_1hz(path: str) -> pd.DataFrame:
    raw = (
        pd.read_csv(path, sep=None, engine="python") if path.endswith(".txt") else pd.read_csv(path)
    )
    raw = raw.rename(columns={c: canonical_name(c) or c for c in raw.columns})
    cols = ["time_s"] + [c for c in raw.columns if c in PARAMS]
    df = raw[cols].apply(pd.to_numeric, errors="coerce")
    for c in cols[1:]:
        p = PARAMS[c]
        df.loc[(df[c] < p.low) | (df[c] > p.high) | ~np.isfinite(df[c]), c] = np.nan
    df = df.dropna(subset=["time_s"]).sort_values("time_s", kind="stable")
    df = df.drop_duplicates("time_s", keep="last")
    df["sec"] = np.floor(df["time_s"] - df["time_s"].iloc[0]).astype(int)
    agg = {c: ("last" if PARAMS[c].kind == "discrete" else "mean") for c in cols[1:]}
    out = df.groupby("sec").agg(agg)
    return out.reindex(range(out.index.max() + 1))


def phases(df: pd.DataFrame) -> pd.Series:
    cas = df["cas_kt"].interpolate().bfill().rolling(5, center=True, min_periods=1).median()
    alt = df["alt_std_ft"].interpolate().bfill().rolling(9, center=True, min_periods=1).median()
    air = (df["wow"].ffill().bfill() < 0.5) if "wow" in df else cas > 100
    air_idx = np.flatnonzero(air.to_numpy())
    label = pd.Series(PHASES[0], index=df.index)
    if air_idx.size == 0:
        return label
    lift, touch = int(air_idx[0]), int(air_idx[-1])
    c, a = cas.to_numpy(), alt.to_numpy()
    slow = np.flatnonzero(c[:lift] < 40)
    roll = int(slow[-1]) + 1 if slow.size else 0
    slow2 = np.flatnonzero(c[touch:] < 40)
    roll_end = touch + int(slow2[0]) if slow2.size else len(c) - 1
    above = np.flatnonzero(a[lift:touch] >= a[lift] + 1500)
    to_end = lift + int(above[0]) if above.size else lift
    vs = pd.Series(a).rolling(31, center=True, min_periods=1).mean().diff().fillna(0) * 60
    top = a[lift:touch].max()
    level = np.flatnonzero((a >= top - 3000) & (vs.abs().to_numpy() < 400))
    level = level[(level > to_end) & (level < touch)]
    toc, tod = (int(level[0]), int(level[-1])) if level.size else (to_end, to_end)
    low = np.flatnonzero(a[tod:touch] <= a[touch] + 3000)
    app = tod + int(low[0]) if low.size else touch
    cuts = np.maximum.accumulate([0, roll, to_end, toc, tod, app, touch, roll_end, len(c)])
    for name, lo, hi in zip(PHASES, cuts[:-1], cuts[1:], strict=True):
        label.iloc[lo:hi] = name
    return label


def features(df: pd.DataFrame, label: pd.Series, baseline: Baseline) -> pd.DataFrame:
    frames = []
    for e in (1, 2):
        n2 = df[f"eng{e}_n2_pct"]
        press = df[f"eng{e}_bleed_press_psi"]
        temp = df[f"eng{e}_precooler_out_temp_degc"]
        hp = df[f"eng{e}_hpv_open"].ffill().fillna((n2 < HP_REGIME_BELOW_N2).astype(float))
        eai = df.get(f"eng{e}_eai_on", pd.Series(0.0, index=df.index)).ffill().fillna(0)
        x = design(
            n2.to_numpy(),
            df["alt_std_ft"].ffill().to_numpy(),
            df["tat_degc"].ffill().to_numpy(),
            hp.to_numpy(),
            eai.to_numpy(),
        )
        p_exp, t_exp = baseline.predict(x)
        active = (n2 > 50) & (df[f"eng{e}_prv_open"].ffill() >= 0.5)
        low_demand = (n2 < LOW_DEMAND_BELOW_N2) & (eai < 0.5)
        steady = active & (n2.diff(10).abs() < 2) & (hp.diff().abs().rolling(20).max() == 0)
        other = df[f"eng{3 - e}_bleed_press_psi"]
        matched = steady & ((n2 - df[f"eng{3 - e}_n2_pct"]).abs() < 1.5)
        f = pd.DataFrame(
            {
                "phase": label,
                "active": active,
                "press": press.where(active),
                "temp": temp.where(active),
                "press_err": (press - np.where(hp > 0.5, 36.0, IP_SET_PSI)).where(active),
                "over": active & (press > OVERPRESSURE_PSI),
                "temp_high": active & (temp >= TEMP_HIGH_DEGC),
                "press_res": (press - p_exp).where(steady),
                "temp_res": (temp - t_exp).where(active & ~low_demand),
                "asym_press": (press - other).where(matched),
                "osc": (press - press.rolling(15, center=True, min_periods=1).mean()).where(steady),
            }
        )
        g = f.groupby("phase", sort=False).agg(
            seconds=("active", "size"),
            active_s=("active", "sum"),
            press_mean=("press", "mean"),
            press_std=("press", "std"),
            press_err_mean=("press_err", "mean"),
            temp_mean=("temp", "mean"),
            temp_max=("temp", "max"),
            press_over_s=("over", "sum"),
            temp_high_s=("temp_high", "sum"),
            press_res_mean=("press_res", "mean"),
            temp_res_mean=("temp_res", "mean"),
            asym_press_mean=("asym_press", "mean"),
            press_osc=("osc", "std"),
        )
        g.insert(0, "engine", e)
        frames.append(g.reset_index())
    return pd.concat(frames, ignore_index=True)


def analyze_pandas(path: str, baseline: Baseline) -> pd.DataFrame:
    df = read_1hz(path)
    return features(df, phases(df), baseline)
