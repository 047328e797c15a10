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


def test_fleet_plan_can_keep_half_the_aircraft_healthy_and_cycle_every_fault_type():
    import numpy as np

    from nubo.bleed.simulate import fault_plan

    plans = fault_plan(np.random.default_rng(0), 40, 40, healthy_share=0.5)
    assert sum(p["kind"] == "none" for p in plans) == 20
    assert {p["kind"] for p in plans} == {"none", *FAULT_TYPES}
    default = fault_plan(np.random.default_rng(0), 9, 40)
    assert [p["kind"] == "none" for p in default] == [a % 3 == 2 for a in range(9)]


def test_fleet_style_offsets_engines_beyond_the_defaults():
    import numpy as np

    from nubo.bleed.simulate import FleetStyle

    rng = np.random.default_rng(1)
    biases = [FleetStyle(press_span=3, temp_span=15, noise=2).bias(rng) for _ in range(200)]
    assert max(abs(b.press) for b in biases) > 2.5 and max(abs(b.temp) for b in biases) > 12
    assert {b.noise for b in biases} == {2}
