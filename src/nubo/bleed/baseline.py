"""Expected bleed pressure and precooler temperature for an operating condition.

The physics fixes the shape (a set-point per valve mode and demand level, a mild TAT and
altitude dependence); the coefficients are fitted on healthy flights by `training.fit_artefact`
and shipped as a few numbers in JSON, so prediction is one matrix product with no pickle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Physics thresholds from the aircraft documentation (A320 family).
HP_REGIME_BELOW_N2 = 72.0  # the HP valve is expected open below this N2
LOW_DEMAND_BELOW_N2 = 75.0  # precooler regulated to ~150 °C below this N2 without anti-ice

FEATURES = (
    "bias",
    "hp_mode",
    "n2",
    "n2_sq",
    "alt_10kft",
    "tat",
    "low_demand",
    "anti_ice",
    "tat_low_demand",
)


def design(
    n2: np.ndarray,
    alt_ft: np.ndarray,
    tat: np.ndarray,
    hp_mode: np.ndarray,
    anti_ice: np.ndarray,
) -> np.ndarray:
    """The regression inputs, one row per second; NaN in, NaN out."""
    n2c = (n2 - 80.0) / 10.0
    low = ((n2 < LOW_DEMAND_BELOW_N2) & (anti_ice < 0.5)).astype(float)
    return np.column_stack(
        [
            np.ones_like(n2),
            hp_mode,
            n2c,
            n2c**2,
            alt_ft / 10_000.0,
            tat / 10.0,
            low,
            anti_ice,
            low * tat / 10.0,
        ]
    )


def with_hp_open(x: np.ndarray) -> np.ndarray:
    """`design` rows as if the HP valve were open: only the `hp_mode` input depends on it,
    so a copy with that column set is the same as a second `design` call, at a tenth of
    its cost."""
    out = x.copy()
    out[:, FEATURES.index("hp_mode")] = 1.0
    return out


@dataclass(frozen=True)
class Baseline:
    press_coef: tuple[float, ...]
    temp_coef: tuple[float, ...]

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x @ np.asarray(self.press_coef), x @ np.asarray(self.temp_coef)

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "press_coef": list(self.press_coef),
            "temp_coef": list(self.temp_coef),
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Baseline:
        if list(d["features"]) != list(FEATURES):  # type: ignore[call-overload]
            raise ValueError("baseline artefact was fitted on a different feature set")
        return cls(tuple(d["press_coef"]), tuple(d["temp_coef"]))  # type: ignore[arg-type]


# The nominal set-points, used before any fit and as the prior the fit is checked against.
NOMINAL = Baseline(
    press_coef=(45.0, -9.0, 0, 0, 0, 0, 0, 0, 0),
    temp_coef=(200.0, 0, 0, 0, 0, 1.2, -50.0, 0, 0),
)
