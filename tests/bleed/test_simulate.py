import csv

from nubo.bleed.fleetdir import list_flights
from nubo.bleed.read import read_flight
from nubo.bleed.simulate import FAULT_TYPES, simulate_fleet, simulate_flight


def test_simulated_flight_has_canonical_columns_and_requested_rate():
    df = simulate_flight(seed=1, duration_h=1.0, rate_hz=4, extra_columns=5)
    assert df.columns[0] == "time_s"
    assert "eng2_precooler_out_temp_degc" in df.columns
    assert sum(c.startswith("QAR_PARAM_") for c in df.columns) == 5
    assert abs(df["time_s"][1] - 0.25) < 1e-9


def test_fleet_writes_readable_mixed_files_and_labels(tmp_path):
    labels = simulate_fleet(
        tmp_path, aircraft=3, flights=6, seed=4, hours=(0.5, 0.6), rates_hz=(1,)
    )
    with labels.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 18
    assert {r["fault_type"] for r in rows} <= {"none", *FAULT_TYPES}
    assert all(0 <= float(r["severity"]) <= 1 for r in rows)
    flights = list_flights(tmp_path)
    assert [f.flight_index for f in flights[:6]] == list(range(6))
    for f in flights:
        assert read_flight(f.path).data.height > 1000
