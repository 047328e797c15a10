"""Canonical parameters and header aliases, kept as data so aircraft types can extend them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["continuous", "discrete"]
ENGINES = (1, 2)


@dataclass(frozen=True)
class Param:
    name: str
    unit: str
    low: float
    high: float
    kind: Kind = "continuous"
    required: bool = False


def _params() -> dict[str, Param]:
    ps = [
        Param("alt_std_ft", "ft", -2_000, 50_000, required=True),
        Param("cas_kt", "kt", 0, 450, required=True),
        Param("mach", "-", 0, 0.95),
        Param("tat_degc", "degC", -80, 60, required=True),
        Param("wow", "0/1", 0, 1, "discrete"),
        Param("wai_on", "0/1", 0, 1, "discrete"),
        Param("xbleed_open", "0/1", 0, 1, "discrete"),
        Param("apu_bleed_open", "0/1", 0, 1, "discrete"),
        Param("cabin_dp_psi", "psi", -1, 9.5),
    ]
    for e in ENGINES:
        ps += [
            Param(f"eng{e}_n1_pct", "%", 0, 120, required=True),
            Param(f"eng{e}_n2_pct", "%", 0, 120, required=True),
            Param(f"eng{e}_bleed_press_psi", "psig", 0, 120, required=True),
            Param(f"eng{e}_precooler_out_temp_degc", "degC", -60, 400, required=True),
            Param(f"eng{e}_prv_open", "0/1", 0, 1, "discrete", required=True),
            Param(f"eng{e}_hpv_open", "0/1", 0, 1, "discrete"),
            Param(f"eng{e}_bleed_fault", "0/1", 0, 1, "discrete"),
            Param(f"eng{e}_bleed_ovht", "0/1", 0, 1, "discrete"),
            Param(f"eng{e}_bleed_leak", "0/1", 0, 1, "discrete"),
            Param(f"eng{e}_eai_on", "0/1", 0, 1, "discrete"),
            Param(f"pack{e}_flow_kgs", "kg/s", 0, 2),
        ]
    return {p.name: p for p in ps}


PARAMS: dict[str, Param] = _params()
REQUIRED: tuple[str, ...] = tuple(n for n, p in PARAMS.items() if p.required)
TIME_COLUMNS = ("time_s", "timestamp")


def _default_aliases() -> dict[str, str]:
    aliases = {"alt std": "alt_std_ft", "cas": "cas_kt", "tat": "tat_degc"}
    for e in ENGINES:
        aliases |= {
            f"n1.{e}": f"eng{e}_n1_pct",
            f"eng {e} n1": f"eng{e}_n1_pct",
            f"n2.{e}": f"eng{e}_n2_pct",
            f"eng {e} n2": f"eng{e}_n2_pct",
            f"bleed press {e}": f"eng{e}_bleed_press_psi",
            f"bleed temp {e}": f"eng{e}_precooler_out_temp_degc",
            f"prv {e}": f"eng{e}_prv_open",
            f"hpv {e}": f"eng{e}_hpv_open",
        }
    return aliases


# Per aircraft type; "default" applies to every type and a type's entries win over it.
ALIASES: dict[str, dict[str, str]] = {"default": _default_aliases()}


def register_aliases(aircraft_type: str, aliases: dict[str, str]) -> None:
    """Add header aliases (case-insensitive) for one aircraft type."""
    table = ALIASES.setdefault(aircraft_type, {})
    table.update({k.strip().lower(): v for k, v in aliases.items()})


def canonical_name(header: str, aircraft_type: str | None = None) -> str | None:
    """The canonical name for a header, or None when the column is unknown."""
    key = header.strip().strip('"').strip().lower()
    if key in PARAMS or key in TIME_COLUMNS:
        return key
    if aircraft_type and key in ALIASES.get(aircraft_type, {}):
        return ALIASES[aircraft_type][key]
    return ALIASES["default"].get(key)
