"""The trend folds a flight flown after every other into the stored state (no replay of the
whole history), and that state is exactly the replay's."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from nubo.fleet import repository, trend
from nubo.fleet.service import restart_engine
from nubo.kit.types import utcnow
from nubo.models import Aircraft, Flight, ProcessingStatus
from tests.fixtures.fleet import flight_result


def _result(rng: random.Random, version: str | None = None):  # type: ignore[no-untyped-def]
    result = flight_result(
        "normal", round(rng.uniform(60, 99), 3),
        press_res_ip=rng.gauss(0, 1.5), temp_res_hi=rng.gauss(0, 6), press_off=rng.gauss(0, 1),
    )
    return result if version is None else result.__class__(
        **{**{f: getattr(result, f) for f in result.__dataclass_fields__},
           "model_version": version}
    )


async def _flight(session, account, when: datetime) -> Flight:  # type: ignore[no-untyped-def]
    flight = Flight(account_id=account.id, registration="PR-XBA", aircraft_type="A320",
                    departure_at=when, processing_status=ProcessingStatus.processed)
    session.add(flight)
    await session.flush()
    return flight


async def _replayed(session, aircraft: Aircraft):  # type: ignore[no-untyped-def]
    points = await repository.trend_points(session, aircraft.id)
    return trend.fold(points, await repository.engine_resets(session, aircraft.id))


async def test_a_flight_after_the_others_is_folded_in_and_equals_the_replay(session, world):
    rng, start = random.Random(7), utcnow() - timedelta(days=40)
    for day in range(12):
        flight = await _flight(session, world.account_a, start + timedelta(days=day))
        aircraft = await repository.aircraft_for_update(session, world.account_a.id, "PR-XBA")
        if aircraft is not None:
            assert await trend._appends(session, aircraft, flight)
            assert await trend.state_before(session, flight) == aircraft.trend_state
        aircraft = await trend.record(session, flight, _result(rng, trend.model_version()))
        await session.flush()
        assert aircraft.flights_processed == day + 1
        assert aircraft.latest_flight_id == flight.id
        assert aircraft.trend_state == await _replayed(session, aircraft)


async def test_late_flights_resets_and_other_models_replay_and_still_agree(session, world):
    rng, start = random.Random(11), utcnow() - timedelta(days=40)
    current = trend.model_version()
    days = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10]
    for day in days:  # in order, then one flown before the latest (a late upload)
        flight = await _flight(session, world.account_a, start + timedelta(days=day))
        aircraft = await trend.record(session, flight, _result(rng, current))
    late = await _flight(session, world.account_a, start + timedelta(days=8))
    assert not await trend._appends(session, aircraft, late)
    aircraft = await trend.record(session, late, _result(rng, current))
    assert aircraft.trend_state == await _replayed(session, aircraft)
    # A reset after the latest flight: the next one replays, so the reset applies in time.
    await restart_engine(session, world.account_a.id, "PR-XBA", 1, "bleed-valve",
                         start + timedelta(days=10, hours=12))
    after = await _flight(session, world.account_a, start + timedelta(days=11))
    aircraft = await repository.aircraft_for_update(session, world.account_a.id, "PR-XBA")
    assert aircraft is not None and not await trend._appends(session, aircraft, after)
    aircraft = await trend.record(session, after, _result(rng, current))
    assert aircraft.trend_state == await _replayed(session, aircraft)
    # A latest point of another model: the next flight replays under the current one.
    other = await _flight(session, world.account_a, start + timedelta(days=12))
    await trend.record(session, other, _result(rng, "an-older-model"))
    nxt = await _flight(session, world.account_a, start + timedelta(days=13))
    aircraft = await repository.aircraft_for_update(session, world.account_a.id, "PR-XBA")
    assert aircraft is not None and not await trend._appends(session, aircraft, nxt)
    aircraft = await trend.record(session, nxt, _result(rng, current))
    assert aircraft.flights_processed == len(days) + 4
    assert aircraft.trend_state == await _replayed(session, aircraft)


def _ref(flight: Flight) -> trend.FlightRef:
    return trend.FlightRef(id=flight.id, account_id=flight.account_id,
                           registration=flight.registration, aircraft_type=flight.aircraft_type,
                           flown_at=trend.flown_at(flight))


async def test_the_jobs_statements_fold_in_as_record_does_and_leave_the_rest_to_it(
    session, world
):
    """The processing job's path (one locked read, the point and the fold one statement each)
    gives the replay's state, decides the common case as `_appends` does, and writes nothing
    where the ORM path must replay."""
    rng, start = random.Random(13), utcnow() - timedelta(days=40)
    current = trend.model_version()
    first = await _flight(session, world.account_a, start)
    assert await trend.state_before_ref(session, _ref(first)) is None  # no aircraft yet
    assert not await trend.record_appended(session, _ref(first), _result(rng, current))
    await trend.record(session, first, _result(rng, current))  # creates the aircraft
    for day in range(1, 8):
        flight = await _flight(session, world.account_a, start + timedelta(days=day))
        aircraft = await repository.aircraft_for_update(session, world.account_a.id, "PR-XBA")
        assert aircraft is not None
        assert await trend.state_before_ref(session, _ref(flight)) == aircraft.trend_state
        assert await trend.record_appended(session, _ref(flight), _result(rng, current))
        await session.refresh(aircraft)  # written by Core statements: read it again
        assert aircraft.flights_processed == day + 1
        assert aircraft.latest_flight_id == flight.id
        assert aircraft.trend_state == await _replayed(session, aircraft)
    # A late flight and a re-run replay: the job's path leaves them to `record`.
    late = await _flight(session, world.account_a, start + timedelta(days=3, hours=6))
    assert await trend.state_before_ref(session, _ref(late)) == await trend.state_before(
        session, late
    )
    assert not await trend.record_appended(session, _ref(late), _result(rng, current))
    assert not await trend.record_appended(session, _ref(flight), _result(rng, current))
    await session.refresh(aircraft)
    assert aircraft.flights_processed == 8  # nothing written
