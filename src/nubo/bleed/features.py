"""Per-engine, per-phase bleed features and the per-engine residual summary.

Everything is computed on the 1 Hz frame from `read.read_flight`. Residuals compare each
second with the baseline expectation for its operating condition, and only on "steady"
seconds: valve mode changes and thrust transients are left to settle first, because the
thermal lag of the precooler (tens of seconds) would otherwise dominate the residual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from nubo.bleed.aliases import ENGINES
from nubo.bleed.baseline import (
    HP_REGIME_BELOW_N2,
    LOW_DEMAND_BELOW_N2,
    Baseline,
    design,
    with_hp_open,
)
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
# A residual rests on at least this many steady seconds, or the regime was not assessed: a
# mean over a few seconds of a transient is noise, not evidence.
MIN_STEADY_S = 60

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
    "steady_temp_hi_s",
    "steady_temp_lo_s",
    "matched_s",
)


@dataclass
class FlightFeatures:
    table: pl.DataFrame  # one row per engine × phase
    summary: dict[int, dict[str, float | None]]  # per engine, keys in SUMMARY_KEYS
    # per engine, `engine_seconds`: what `where.place_findings` reads to place each finding
    seconds: dict[int, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)


class FrameColumns:
    """The columns of a 1 Hz frame as float arrays, each converted once and then shared.

    Every Polars Series operation carries a fixed cost (it runs as a small query) that
    dwarfs the work on a few thousand rows, and both engines read several of the same
    columns; so each column is turned into numpy once (Float64 nulls come out as NaN).
    The arrays are shared and marked read-only.
    """

    def __init__(self, df: pl.DataFrame) -> None:
        self._df = df
        self._names = set(df.columns)
        self._arrays: dict[str, np.ndarray] = {}
        self.height = df.height

    def filled(self, name: str) -> np.ndarray:
        """`get(name)` with gaps carried forward (`_ffill`), also converted once."""
        key = f"{name} (filled)"
        arr = self._arrays.get(key)
        if arr is None:
            arr = _ffill(self.get(name))
            arr.flags.writeable = False
            self._arrays[key] = arr
        return arr

    def get(self, name: str, default: float = np.nan) -> np.ndarray:
        if name not in self._names:
            return np.full(self.height, default)
        arr = self._arrays.get(name)
        if arr is None:
            s = self._df[name]
            arr = (s if s.dtype == pl.Float64 else s.cast(pl.Float64)).to_numpy()
            arr.flags.writeable = False
            self._arrays[name] = arr
        return arr


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


def engine_seconds(
    df: pl.DataFrame | FrameColumns, e: int, baseline: Baseline
) -> dict[str, np.ndarray]:
    """Per-second signals and residuals for engine `e`."""
    cols = df if isinstance(df, FrameColumns) else FrameColumns(df)
    s = {k: cols.get(v.format(e=e)) for k, v in _SIGNALS.items()}
    other = 3 - e
    n2, press, temp = s["n2"], s["press"], s["temp"]
    with np.errstate(invalid="ignore"):
        running = n2 > RUNNING_N2
        prv = _ffill(s["prv"])
        active = running & ~(prv < 0.5)
        hp_expected = n2 < HP_REGIME_BELOW_N2
        hpv = _ffill(s["hpv"])
        hp_mode = np.where(np.isfinite(hpv), hpv >= 0.5, hp_expected)
        anti_ice = np.fmax(_ffill(s["eai"]), cols.filled("wai_on"))
        anti_ice = np.where(np.isfinite(anti_ice), anti_ice, 0.0)
        low_demand = (n2 < LOW_DEMAND_BELOW_N2) & (anti_ice < 0.5)
        alt, tat = cols.filled("alt_std_ft"), cols.filled("tat_degc")
        x = design(n2, alt, tat, hp_mode.astype(float), anti_ice)
        press_exp, temp_exp = baseline.predict(x)
        press_exp_hp, _ = baseline.predict(with_hp_open(x))
        n2_steady = _stable(n2, 10, 2.0)
        steady_p = active & _settled(hp_mode, PRESS_SETTLE_S) & n2_steady
        steady_t = active & _settled(low_demand, TEMP_SETTLE_S) & _stable(n2, 60, 4.0)
        o_n2 = cols.get(f"eng{other}_n2_pct")
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
        "asym_press": np.where(matched, press - cols.get(f"eng{other}_bleed_press_psi"), np.nan),
        "asym_temp": np.where(
            matched, temp - cols.get(f"eng{other}_precooler_out_temp_degc"), np.nan
        ),
        # Pressure minus its 15 s centred mean: the oscillation of a hunting valve.
        "osc": press - _rolling_mean(press, 15),
        "w_fault": s["w_fault"],
        "w_ovht": s["w_ovht"],
        "w_leak": s["w_leak"],
    }


def _rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean of the valid (non-NaN) values in each window, NaN where there
    are none: Polars' `rolling_mean(window, min_samples=1, center=True)` for an odd window,
    as a sum of shifted copies (in place) rather than a Polars round trip."""
    h, n = window // 2, x.size
    valid = ~np.isnan(x)
    padded = np.zeros(n + 2 * h)
    padded[h : h + n] = np.where(valid, x, 0.0)
    total = padded[:n].copy()
    for k in range(1, window):
        total += padded[k : k + n]
    seen = np.concatenate([[0], np.cumsum(valid)])  # valid values before each index
    at = np.arange(n)
    count = seen[np.minimum(at + h + 1, n)] - seen[np.maximum(at - h, 0)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _per_second(sec: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-second values the phase table aggregates (NaN = no value that second)."""
    with np.errstate(invalid="ignore"):
        act = sec["active"]
        press, temp, set_p, tol = sec["press"], sec["temp"], sec["set_p"], sec["tol_p"]
        steady_p, steady_t = sec["steady_p"], sec["steady_t"]
        return {
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
            "osc": np.where(steady_p, sec["osc"], np.nan),
            "w_fault": sec["w_fault"] >= 0.5,
            "w_ovht": sec["w_ovht"] >= 0.5,
            "w_leak": sec["w_leak"] >= 0.5,
        }


# The phase table: output column -> (aggregate, per-second value); `count` counts True
# seconds, `mean`/`std`/`max` skip seconds without a value, `switches` counts valve moves.
_TABLE: dict[str, tuple[str, str]] = {
    "active_s": ("count", "active"),
    "press_mean": ("mean", "press"),
    "press_std": ("std", "press"),
    "press_err_mean": ("mean", "press_err"),
    "temp_mean": ("mean", "temp"),
    "temp_max": ("max", "temp"),
    "press_above_band_s": ("count", "above_band"),
    "press_below_band_s": ("count", "below_band"),
    "press_over_s": ("count", "over"),
    "temp_high_s": ("count", "temp_high"),
    "temp_shut_s": ("count", "temp_shut"),
    "press_res_mean": ("mean", "press_res"),
    "temp_res_mean": ("mean", "temp_res"),
    "asym_press_mean": ("mean", "asym_press"),
    "asym_temp_mean": ("mean", "asym_temp"),
    "hpv_open_share": ("mean", "hpv_open"),
    "hpv_switches": ("switches", "hpv_open"),
    "press_osc": ("std", "osc"),
    "w_fault_s": ("count", "w_fault"),
    "w_ovht_s": ("count", "w_ovht"),
    "w_leak_s": ("count", "w_leak"),
}


@dataclass
class _Groups:
    """The seconds of each phase, grouped: phases in order of first appearance, each
    phase's seconds in time order (what a `group_by("phase", maintain_order=True)` forms).

    `rows` picks the grouped seconds out of a per-second array: a slice when every phase is
    one contiguous run, which is always the case for `detect_phases` output, so grouping
    then copies nothing. `starts` are the group offsets within `rows`, `sizes` their
    lengths, `phase` the index into PHASES of each group.
    """

    rows: slice | np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    phase: np.ndarray


def _phase_groups(labels: np.ndarray) -> _Groups:
    """Group the seconds by their phase label (-1: outside every phase)."""
    inside = np.flatnonzero(labels >= 0)
    lab = labels[inside]
    runs = np.flatnonzero(np.diff(lab, prepend=-1))  # where each run of one label starts
    phase = lab[runs]
    adjacent = inside.size > 0 and inside[-1] - inside[0] + 1 == inside.size
    if adjacent and np.unique(phase).size == runs.size:
        # The usual case: each phase one run, with no second outside between them.
        sizes = np.diff(np.append(runs, lab.size))
        return _Groups(slice(int(inside[0]), int(inside[-1]) + 1), runs, sizes, phase)
    found, first = np.unique(lab, return_index=True)
    phase = found[np.argsort(first)]
    rank = np.zeros(len(PHASES), dtype=np.intp)
    rank[phase] = np.arange(phase.size)
    group = rank[lab]
    sizes = np.bincount(group, minlength=phase.size)
    return _Groups(inside[np.argsort(group, kind="stable")], np.cumsum(sizes) - sizes, sizes, phase)


def _aggregate(how: str, x: np.ndarray, g: _Groups) -> np.ndarray:
    """One aggregate of a grouped per-second array (`x[g.rows]`), one value per group."""
    if g.starts.size == 0:
        return np.empty(0, dtype=np.uint32 if how in ("count", "switches") else float)
    if how == "count":
        return np.add.reduceat(x, g.starts, dtype=np.uint32)
    if how == "switches":
        # A move is a change of more than half between consecutive seconds of one phase,
        # both with a value; the first second of a phase has no predecessor.
        moved = np.zeros(x.size, dtype=bool)
        with np.errstate(invalid="ignore"):
            moved[1:] = np.abs(np.diff(x)) > 0.5
        moved[g.starts] = False
        return np.add.reduceat(moved, g.starts, dtype=np.uint32)
    if how == "max":
        return np.fmax.reduceat(x, g.starts)
    valid = ~np.isnan(x)
    n = np.add.reduceat(valid, g.starts, dtype=np.intp)
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "mean":
            return np.where(n > 0, np.add.reduceat(np.where(valid, x, 0.0), g.starts) / n, np.nan)
        # Sample standard deviation (ddof=1; none below 2 values), two-pass on values
        # shifted by the group's maximum so that a constant group is exactly 0, as in Polars.
        shifted = np.where(valid, x - np.repeat(np.fmax.reduceat(x, g.starts), g.sizes), 0.0)
        mean = np.add.reduceat(shifted, g.starts) / n
        dev = np.where(valid, shifted - np.repeat(mean, g.sizes), 0.0)
        ss = np.add.reduceat(dev * dev, g.starts)
        return np.where(n > 1, np.sqrt(ss / (n - 1)), np.nan)


def _phase_table(per_second: dict[str, np.ndarray], g: _Groups, e: int) -> dict[str, np.ndarray]:
    """One row per phase for engine `e`: the aggregates of `_TABLE`."""
    return {
        "engine": np.full(g.phase.size, e, dtype=np.int8),
        "phase": g.phase,
        "seconds": g.sizes.astype(np.uint32),
        **{out: _aggregate(how, per_second[src][g.rows], g) for out, (how, src) in _TABLE.items()},
    }


def _table_frame(tables: list[dict[str, np.ndarray]]) -> pl.DataFrame:
    """Stack the engines' phase tables into one frame (float NaN = null)."""
    cols = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    names = np.asarray(PHASES, dtype=object)[cols.pop("phase")]
    series = [pl.Series("engine", cols.pop("engine")), pl.Series("phase", names, pl.String)]
    # Series one by one: a dict of numpy arrays makes Polars spin up a thread pool per frame.
    series += [pl.Series(k, v, nan_to_null=True) for k, v in cols.items()]
    return pl.DataFrame(series)


def _nanmean(x: np.ndarray, min_n: int = MIN_STEADY_S) -> float | None:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size >= max(min_n, 1) else None


def frozen_seconds(value: np.ndarray, n2: np.ndarray, active: np.ndarray) -> float:
    """Longest run of an unchanged reading while the engine clearly changed condition."""
    return float(frozen_run(value, n2, active)[1])


def frozen_run(value: np.ndarray, n2: np.ndarray, active: np.ndarray) -> tuple[int, int]:
    """(start index, length) of the longest frozen run (see `frozen_seconds`); (0, 0) if none."""
    ok = np.isfinite(value) & active
    if ok.sum() < 2:
        return 0, 0
    change = np.ones(value.size, dtype=bool)
    change[1:] = (value[1:] != value[:-1]) | ~ok[1:] | ~ok[:-1]
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, value.size))
    # Only a valid run of two seconds or more can be frozen. A live signal has few, so
    # the N2 span is taken over those alone: reduceat over (start, end) pairs, the extra
    # NaN giving a run that ends at the last second an end index.
    runs = (lengths > 1) & ok[starts]
    starts, lengths = starts[runs], lengths[runs]
    if starts.size == 0:
        return 0, 0
    n2f = np.append(np.where(np.isfinite(n2), n2, np.nan), np.nan)
    bounds = np.column_stack([starts, starts + lengths]).ravel()
    span = (np.fmax.reduceat(n2f, bounds) - np.fmin.reduceat(n2f, bounds))[::2]
    with np.errstate(invalid="ignore"):
        frozen = (span >= FROZEN_MIN_N2_RANGE) | (lengths >= FROZEN_ALWAYS_S)
    if not frozen.any():
        return 0, 0
    longest = int(np.argmax(np.where(frozen, lengths, -1)))
    return int(starts[longest]), int(lengths[longest])


def regimes(sec: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The seconds each residual channel's mean is taken over (and engine-stopped seconds)."""
    with np.errstate(invalid="ignore"):
        n2 = sec["n2"]
        return {
            "press_res_ip": sec["steady_p"] & ~sec["hp_mode"] & (n2 >= HP_REGIME_BELOW_N2 + 3),
            "press_res_hp": sec["steady_p"] & sec["hp_expected"] & (n2 <= HP_REGIME_BELOW_N2 - 3),
            "temp_res_hi": sec["steady_t"] & ~sec["low_demand"],
            "temp_res_lo": sec["steady_t"] & sec["low_demand"],
            "press_off": (n2 < ENGINE_OFF_N2) & ~(sec["prv"] >= 0.5),
        }


def _summary(
    sec: dict[str, np.ndarray], masked: dict[str, float], e: int
) -> dict[str, float | None]:
    with np.errstate(invalid="ignore"):
        act, n2, press = sec["active"], sec["n2"], sec["press"]
        regime = regimes(sec)
        ip, hp = regime["press_res_ip"], regime["press_res_hp"]
        hi, lo, off = regime["temp_res_hi"], regime["temp_res_lo"], regime["press_off"]
        low_n2 = act & (n2 <= HP_REGIME_BELOW_N2 - 3)
        osc = sec["osc"][sec["steady_p"]]
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
            "press_over_s": float(np.count_nonzero(act & (press > OVERPRESSURE_PSI))),
            "press_low_ip_s": float(np.count_nonzero(ip & (press < IP_SET_PSI - IP_TOL_PSI))),
            "press_low_hp_s": float(np.count_nonzero(hp & (press < HP_SET_PSI - HP_TOL_PSI))),
            "hpv_closed_low_n2_share": (
                float(np.mean(sec["hpv"][hpv_known] < 0.5)) if hpv_known.sum() > 30 else None
            ),
            "temp_high_s": float(np.count_nonzero(act & (sec["temp"] >= TEMP_HIGH_DEGC))),
            "temp_shut_s": float(np.count_nonzero(sec["temp"] >= TEMP_SHUT_DEGC)),
            "w_fault_s": float(np.count_nonzero(sec["w_fault"] >= 0.5)),
            "w_ovht_s": float(np.count_nonzero(sec["w_ovht"] >= 0.5)),
            "w_leak_s": float(np.count_nonzero(sec["w_leak"] >= 0.5)),
            "active_s": float(np.count_nonzero(act)),
            "steady_ip_s": float(np.count_nonzero(ip)),
            "steady_hp_s": float(np.count_nonzero(hp)),
            "steady_temp_hi_s": float(np.count_nonzero(hi)),
            "steady_temp_lo_s": float(np.count_nonzero(lo)),
            "matched_s": float(np.count_nonzero(np.isfinite(sec["asym_press"]))),
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
    groups = _phase_groups(phase_labels(df.height, phases))
    cols = FrameColumns(df)
    tables, summary, seconds = [], {}, {}
    for e in ENGINES:
        sec = seconds[e] = engine_seconds(cols, e, baseline)
        tables.append(_phase_table(_per_second(sec), groups, e))
        summary[e] = _summary(sec, masked_share or {}, e)
    return FlightFeatures(_table_frame(tables), summary, seconds)
