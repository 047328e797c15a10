"""The panel's pages beside the JSON routes that read the same data, and the flight series.

Run: `uv run python bench/bench_web.py` (or `make bench BENCH_ARGS=web`).

Steps: an embedded database (SQLite) in a temporary folder, migrated; one account with 500
aircraft, each with a processed flight in its trend (so 500 flights); the app in-process (no
network: the figure is the server's own time per request, the HTTP stack included). Pairs:
- the fleet page (`/?limit=200`) beside its JSON twin `GET /api/fleet?limit=200`,
- the flights page (`/flights?limit=200`) beside `GET /api/flight?limit=200`,
- a flight page beside `GET /api/flight/{id}` (goal: each page at most 1.5x its JSON route);
- with 100,000 datasets added (70 % in São Paulo, prices 1.00-1,000.00 BRL), the catalogue
  page beside `GET /api/datasets` with the same filters (location, price range, sort by
  price), on page 1 and on page 1,000 by cursor (goals: each page at most 1.5x its JSON
  route, and page 1,000 within 1.5x page 1);
then the series of a 3-hour flight sampled at 8 Hz (resampled to 1 Hz by the pipeline, as
stored): `GET /api/flight/{id}/series` (all parameters, and `points=2000`; JSON and Arrow
IPC), time and bytes, beside reading the same Parquet with Polars (the floor). Writes
bench/out/web.json.

How a pair is timed (`timed`): WARMUP requests a side, alternating, first; then the
heap built so far (the app, the seeded rows' leftovers) is frozen (`gc.freeze()`, as `nubo
serve` freezes its start-up heap), so a collection walks only what requests allocated. Then
ROUNDS rounds of REQUESTS request pairs: page, JSON, page, JSON, ... (the side that goes
first alternates by round), each request timed on its own, with a `gc.collect()` before
each (cheap once the heap is frozen, and outside the timing) so that garbage one side left
is not collected in the other's time. A side's figure is the median of its ROUNDS x
REQUESTS times, and the pair's ratio is the page's median over the JSON route's. Both sides
meet the same moments of the machine, request by request, and a moment when another
process takes the core lands in a few requests and moves a median little, where the mean
of a block of one side (the previous method) took it whole. The spread printed beside each
ratio is the lowest and highest of the rounds' own ratios (each round's page median over
its JSON median); beside it, the ratio of the medians of the process's CPU time per request
(`time.process_time`, every thread of the process), which a loaded machine moves less: a
cross-check, not the goal's figure. The catalogue's four routes (page and JSON, page 1 and
page 1,000) are timed together that way, so page 1,000 meets page 1 request by request
too. The series routes are timed the same way, one side;
the Polars read is the median of ROUNDS x REQUESTS reads.

Knobs: BENCH_WEB_REQUESTS [20], BENCH_WEB_ROUNDS [10], BENCH_WEB_WARMUP [20].
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
REQUESTS = int(os.environ.get("BENCH_WEB_REQUESTS", "20"))
ROUNDS = int(os.environ.get("BENCH_WEB_ROUNDS", "10"))
WARMUP = int(os.environ.get("BENCH_WEB_WARMUP", "20"))
AIRCRAFT = 500
GOAL = 1.5
DATASETS = 100_000
CATALOGUE_QUERY = "location=sao+paulo&min_price=10&max_price=1000&sort=price&limit=50"
TARGET_PAGE = 1_000


async def seed(app: Any) -> tuple[Any, Any, uuid.UUID]:
    from tests.fixtures.fleet import flight_result, processed_flight
    from tests.fixtures.world import make_account, make_user

    from nubo.models import Flight, ProcessingStatus, Role

    async with app.state.sessionmaker() as session:
        account = await make_account(session, name="Bench Air")
        user = await make_user(session, app.state.platform, account, Role.admin)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        statuses = ["normal", "watch", "alert"]
        last = None
        for n in range(AIRCRAFT):
            status = statuses[n % 3]
            last = await processed_flight(
                session, account, f"PR-{n:04d}", departure_at=start + timedelta(hours=n),
                result=flight_result(status, 90.0 - n % 40),
            )
            last.bleed_status, last.integrity_score = status, 90.0 - n % 40
            last.engine_scores = {"1": 90.0, "2": 88.0}
            last.findings = [{"engine": 1, "code": "overpressure", "severity": "watch",
                              "message": "m", "evidence": {"residual_psi": 6.1}}]
            last.phases = [{"phase": "cruise", "start_s": 600.0, "end_s": 4200.0}]
            last.processing_status = ProcessingStatus.processed
        await session.commit()
        assert isinstance(last, Flight)
        return user, account, last.id


async def seed_catalogue(app: Any, provider_id: uuid.UUID) -> str:
    """100,000 datasets in bulk; returns the cursor of page 1,000 of CATALOGUE_QUERY."""
    import random

    from sqlalchemy import insert

    from nubo.kit.pagination import PageParams, encode_cursor
    from nubo.marketplace import datasets
    from nubo.marketplace.text import location_key, normalise
    from nubo.models import Dataset

    rng = random.Random(14)
    places = ["São Paulo, SP, BR"] * 7 + ["Rio de Janeiro, RJ, BR", "Recife, PE, BR",
                                          "Curitiba, PR, BR"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with app.state.sessionmaker() as session:
        for first in range(0, DATASETS, 10_000):
            rows = []
            for n in range(first, first + 10_000):
                place = places[n % 10]
                name, description = f"Dataset {n:06d}", "Hourly readings"
                rows.append({
                    "id": uuid.uuid4(), "name": name, "description": description,
                    "location": place, "location_key": location_key(place),
                    "search_text": normalise(f"{name} {description} {place}"),
                    "price_minor": rng.randint(100, 100_000), "currency": "BRL",
                    "category": "weather", "format": "csv", "provider_account_id": provider_id,
                    "created_at": start + timedelta(seconds=n),
                    "updated_at": start + timedelta(seconds=n),
                })
            await session.execute(insert(Dataset), rows)
        await session.commit()
        # The last row of page 999 in the query's order: the cursor the 999th "More" gives.
        skipped = (TARGET_PAGE - 1) * 50
        params = PageParams(limit=skipped, cursor=None)
        rows_before = await datasets.search(session, params, location="sao paulo",
                                            min_price="10", max_price="1000", sort="price")
        assert len(rows_before) > skipped, "too few datasets match for page 1,000"
        last = rows_before[skipped - 1]
        return encode_cursor([last.price_minor, last.id])


def series_parquet() -> bytes:
    """A 3-hour flight recorded at 8 Hz, as the pipeline stores it (1 Hz, plotted columns)."""
    import numpy as np
    import polars as pl

    from nubo.bleed.series import PLOTTED, series_frame, to_parquet

    rng = np.random.default_rng(1)
    n = 3 * 3600 * 8
    raw = pl.DataFrame({"time_s": np.arange(n) / 8.0,
                        **{c: rng.normal(40, 2, n) for c in PLOTTED}})
    one_hz = raw.group_by((pl.col("time_s")).floor().cast(pl.Int64).alias("t"),
                          maintain_order=True).agg(pl.all().exclude("time_s").mean())
    return to_parquet(series_frame(one_hz.rename({"t": "time_s"})))


async def one(client: Any, url: str, headers: dict[str, str]) -> tuple[float, float, int]:
    """One request's time and the process's CPU time meanwhile (seconds), and body size."""
    cpu, start = time.process_time(), time.perf_counter()
    response = await client.get(url, headers=headers)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return took, cpu, len(response.content)


async def timed(client: Any, sides: dict[str, tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """Per-request times of routes timed together, as the module's docstring says: warm-up,
    frozen heap, rounds of interleaved requests with a collection before each. Each side's
    median, quartiles, minimum and its median in each round; the last body's size."""
    names = list(sides)
    for _ in range(WARMUP):
        for name in names:
            await one(client, *sides[name])
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    rounds: dict[str, list[float]] = {name: [] for name in names}
    size = 0
    for n in range(ROUNDS):
        mine: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(REQUESTS):
            for name in names if n % 2 == 0 else names[::-1]:
                gc.collect()
                took, used, size = await one(client, *sides[name])
                mine[name].append(took)
                cpu[name].append(used)
        for name in names:
            times[name].extend(mine[name])
            rounds[name].append(statistics.median(mine[name]))
    result: dict[str, Any] = {"bytes": size}
    for name in names:
        quartiles = statistics.quantiles(times[name], n=4)
        result[name] = {"median_ms": statistics.median(times[name]) * 1e3,
                        "p25_ms": quartiles[0] * 1e3, "p75_ms": quartiles[2] * 1e3,
                        "min_ms": min(times[name]) * 1e3, "rounds_ms": [
                            t * 1e3 for t in rounds[name]],
                        "cpu_median_ms": statistics.median(cpu[name]) * 1e3}
    return result


def compared(timing: dict[str, Any], side: str, baseline: str) -> dict[str, Any]:
    """`side` over `baseline`: the ratio of their medians, and the lowest and highest of
    the rounds' own ratios (the spread)."""
    ratios = [a / b for a, b in zip(timing[side]["rounds_ms"], timing[baseline]["rounds_ms"],
                                    strict=True)]
    return {"ratio": timing[side]["median_ms"] / timing[baseline]["median_ms"],
            "round_ratios": [min(ratios), max(ratios)],
            "cpu_ratio": timing[side]["cpu_median_ms"] / timing[baseline]["cpu_median_ms"]}


def page_row(name: str, timing: dict[str, Any], page: str, json_: str) -> dict[str, Any]:
    return {"name": name, "page_ms": timing[page]["median_ms"],
            "json_ms": timing[json_]["median_ms"], **compared(timing, page, json_),
            **{f"{side}_{q}_ms": timing[key][f"{q}_ms"] for side, key in (("page", page),
               ("json", json_)) for q in ("p25", "p75", "min", "cpu_median")}}


async def run() -> dict[str, Any]:
    import polars as pl
    from httpx import ASGITransport, AsyncClient
    from tests.fixtures.world import bearer

    from nubo.app import create_app
    from nubo.flights.series import key_of
    from nubo.identity.sessions import issue_tokens
    from nubo.kit.db import create_engine
    from nubo.kit.migrate import upgrade
    from nubo.models import Flight
    from nubo.settings import Settings

    with tempfile.TemporaryDirectory(prefix="nubo-bench-web-") as tmp:
        settings = Settings(env="test", data_dir=Path(tmp), argon2_time_cost=1,
                            argon2_memory_cost_kib=1024)
        engine = create_engine(settings.resolved_database_url)
        await upgrade(engine)
        await engine.dispose()
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            user, account, flight_id = await seed(app)
            cursor = await seed_catalogue(app, account.id)
            async with app.state.sessionmaker() as session:
                tokens = await issue_tokens(session, app.state.platform, user)
                flight = await session.get(Flight, flight_id)
                await session.commit()
            data = series_parquet()
            await app.state.store.put_bytes(key_of(flight), data)
            api = bearer(app.state.platform, user)
            page = {"Cookie": f"nubo_session={tokens.refresh_token}", "Accept": "text/html"}
            transport = ASGITransport(app=app)
            async with AsyncClient(transport=transport, base_url="http://bench.test") as client:
                pairs = [
                    ("fleet page, 200 of 500 aircraft", "/?limit=200", "/api/fleet?limit=200"),
                    ("flights page, 200 flights", "/flights?limit=200", "/api/flight?limit=200"),
                    ("flight page", f"/flights/{flight_id}", f"/api/flight/{flight_id}"),
                ]
                results: dict[str, Any] = {"pages": [], "series": []}
                for name, page_url, api_url in pairs:
                    timing = await timed(client, {"page": (page_url, page),
                                                  "json": (api_url, api)})
                    results["pages"].append(page_row(name, timing, "page", "json"))
                # The catalogue's four routes are timed together, so that page 1,000 is
                # compared with page 1 request by request, as each page with its JSON route.
                deep = f"{CATALOGUE_QUERY}&cursor={cursor}"
                timing = await timed(client, {
                    "page 1": (f"/datasets?{CATALOGUE_QUERY}", page),
                    "json 1": (f"/api/datasets?{CATALOGUE_QUERY}", api),
                    "page 1000": (f"/datasets?{deep}", page),
                    "json 1000": (f"/api/datasets?{deep}", api),
                })
                results["pages"].append(
                    page_row("catalogue page 1 of 100,000", timing, "page 1", "json 1"))
                results["pages"].append(
                    page_row("catalogue page 1,000 by cursor", timing, "page 1000", "json 1000"))
                results["catalogue_depth"] = {
                    side: compared(timing, f"{side} 1000", f"{side} 1") for side in ("page", "json")
                }
                floor = []
                for _ in range(ROUNDS * REQUESTS):
                    start = time.perf_counter()
                    pl.read_parquet(io.BytesIO(data))
                    floor.append(time.perf_counter() - start)
                floor_s = statistics.median(floor)
                arrow = {**api, "Accept": "application/vnd.apache.arrow.stream"}
                for label, query, headers in (
                    ("all parameters", "", api),
                    ("points=2000", "?points=2000", api),
                    ("all parameters, Arrow", "", arrow),
                    ("points=2000, Arrow", "?points=2000", arrow),
                ):
                    url = f"/api/flight/{flight_id}/series{query}"
                    timing = await timed(client, {"series": (url, headers)})
                    results["series"].append({"name": label, "bytes": timing["bytes"],
                                              "ms": timing["series"]["median_ms"],
                                              "polars_read_ms": floor_s * 1e3,
                                              "parquet_bytes": len(data)})
        return results


def main() -> int:
    results = asyncio.run(run())
    summary = []
    print(f"medians of {ROUNDS} rounds x {REQUESTS} requests a side; rounds: the lowest and "
          "highest of the rounds' own ratios; cpu: the ratio of the CPU time medians")
    print(f"{'pair':36} {'page ms':>9} {'json ms':>9} {'ratio':>7} {'rounds':>11} {'cpu':>5}"
          f"  goal <= {GOAL}")
    for row in results["pages"]:
        ok = "ok" if row["ratio"] <= GOAL else "MISSED"
        low, high = row["round_ratios"]
        print(f"{row['name']:36} {row['page_ms']:9.2f} {row['json_ms']:9.2f} "
              f"{row['ratio']:7.2f} {low:5.2f}-{high:<5.2f} {row['cpu_ratio']:5.2f}  {ok}")
        summary.append(f"{row['name']}: page {row['page_ms']:.2f} ms, JSON {row['json_ms']:.2f}"
                       f" ms (medians), ratio {row['ratio']:.2f}, rounds {low:.2f}-{high:.2f},"
                       f" CPU {row['cpu_ratio']:.2f} (goal <= {GOAL}, {ok})")
    for side in ("page", "json"):
        depth = results["catalogue_depth"][side]
        ratio, (low, high) = depth["ratio"], depth["round_ratios"]
        ok = "ok" if ratio <= GOAL else "MISSED"
        line = (f"catalogue {side}: page 1,000 over page 1 = {ratio:.2f}, rounds "
                f"{low:.2f}-{high:.2f}, CPU {depth['cpu_ratio']:.2f}  (goal <= {GOAL}, {ok})")
        print(line)
        summary.append(line)
    print(f"\n{'series':24} {'ms':>8} {'bytes':>10} {'polars read ms':>15} {'ratio':>7}")
    for row in results["series"]:
        ratio = row["ms"] / row["polars_read_ms"]
        print(f"{row['name']:24} {row['ms']:8.2f} {row['bytes']:10d} "
              f"{row['polars_read_ms']:15.2f} {ratio:7.1f}")
        summary.append(f"series {row['name']}: {row['ms']:.2f} ms, {row['bytes']} bytes; "
                       f"Polars read of the Parquet ({row['parquet_bytes']} bytes) "
                       f"{row['polars_read_ms']:.2f} ms, ratio {ratio:.1f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "web.json").write_text(json.dumps({**results, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
