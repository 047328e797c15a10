"""Listing the flight files of a fleet directory, with labels when there are any."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from nubo.bleed.sniff import detect_format


@dataclass(frozen=True)
class FlightFile:
    path: Path
    aircraft: str
    flight_index: int
    fault_type: str = "none"
    severity: float = 0.0
    engine: int = 0

    @property
    def healthy(self) -> bool:
        return self.fault_type == "none" or self.severity <= 0


def list_flights(data_dir: Path) -> list[FlightFile]:
    """Flights sorted by aircraft and flight order; unlabelled files count as healthy."""
    labels = data_dir / "labels.csv"
    if labels.is_file():
        with labels.open(newline="") as fh:
            rows = [
                FlightFile(
                    data_dir / r["file"],
                    r["aircraft"],
                    int(r["flight_index"]),
                    r["fault_type"],
                    float(r["severity"]),
                    int(r["engine"] or 0),
                )
                for r in csv.DictReader(fh)
            ]
    else:
        rows = []
        for i, p in enumerate(sorted(data_dir.iterdir())):
            if p.is_file() and detect_format(p.open("rb").read(4096)) is not None:
                rows.append(FlightFile(p, p.stem.split("_")[0], i))
    return sorted(rows, key=lambda f: (f.aircraft, f.flight_index))
