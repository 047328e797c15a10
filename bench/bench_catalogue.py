"""Dataset catalogue and monthly billing at scale, on PostgreSQL, over real HTTP.

Run: `uv run python bench/bench_catalogue.py` (or `make bench BENCH_ARGS=catalogue`).

Steps: create a fresh PostgreSQL database (dropped at the end, even on failure), migrate it,
COPY 100,000 datasets (70 % in "São Paulo, BR", prices 1.00-1,000.00 BRL), 10,000 accounts
each with a subscription running through the billed month, and one operator; start
`nubo serve` on a free port; walk `GET /api/datasets?location=...&min_price=...&max_price=...
&sort=price` by cursor to page 1,000 (checking that no item repeats); load page 1 and
page 1,000 with wrk (warm-up, then a measured run each); then time
`nubo billing close-month` over the 10,000 accounts and check the invoices it wrote.
Prints the figures and writes bench/out/catalogue.json ("summary": one line per figure).

Knobs (defaults in brackets): BENCH_ADMIN_DATABASE_URL
[postgresql+asyncpg://postgres@127.0.0.1:5432/test], BENCH_CATALOGUE_DURATION [10] s,
BENCH_CATALOGUE_WARMUP [2] s, BENCH_CATALOGUE_CONNECTIONS [16], BENCH_CATALOGUE_THREADS [2],
BENCH_CATALOGUE_WORKERS [1] (API processes).
Load generator: wrk; without it, a concurrent httpx client (said so in the output).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pgadmin import admin, database_url, drop_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "bench" / "out"
DURATION_S = int(os.environ.get("BENCH_CATALOGUE_DURATION", "10"))
WARMUP_S = int(os.environ.get("BENCH_CATALOGUE_WARMUP", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CATALOGUE_CONNECTIONS", "16"))
THREADS = int(os.environ.get("BENCH_CATALOGUE_THREADS", "2"))
WORKERS = int(os.environ.get("BENCH_CATALOGUE_WORKERS", "1"))
DATASETS = 100_000
ACCOUNTS = 10_000
PAGE = 50
TARGET_PAGE = 1_000
MONTH = "2026-10"
LOCATION = "São Paulo, BR"
OTHER_LOCATIONS = [
    "Rio de Janeiro, BR",
    "Recife, BR",
    "Curitiba, BR",
    "Manaus, BR",
    "Porto Alegre, BR",
    "Lisboa, PT",
    "Buenos Aires, AR",
    "Santiago, CL",
]
QUERY = {
    "location": "sao paulo, br",
    "min_price": "10",
    "max_price": "900",
    "sort": "price",
    "limit": str(PAGE),
}

LUA_DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def _sync_url(name: str) -> tuple[str, str]:
    url = database_url(name)
    return url, url.replace("postgresql+asyncpg://", "postgresql://")


def normalise(value: str) -> str:
    from nubo.marketplace.text import normalise as norm

    return norm(value)


def location_key(value: str) -> str:
    from nubo.marketplace.text import location_key as key

    return key(value)


async def seed(dsn: str, url: str) -> tuple[uuid.UUID, int]:
    """Schema, datasets, accounts with their subscriptions, one operator. Returns the
    operator's id and token version."""
    import asyncpg

    from nubo.kit.db import create_engine
    from nubo.kit.migrate import upgrade

    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    rng = random.Random(7)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(dsn)
    try:
        platform_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO accounts (id, name, email, status, is_platform, created_at, updated_at)"
            " VALUES ($1, 'Nubo operators', 'operators@nubo.invalid', 'active', true, $2, $2)",
            platform_id,
            now,
        )
        operator_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO users (id, account_id, name, email, password_hash, role, token_version,"
            " created_at, updated_at) VALUES ($1, $2, 'Bench operator', 'op@bench.invalid',"
            " 'unused', 'operator', 0, $3, $3)",
            operator_id,
            platform_id,
            now,
        )
        t0 = time.perf_counter()
        records = []
        for i in range(DATASETS):
            location = LOCATION if rng.random() < 0.7 else rng.choice(OTHER_LOCATIONS)
            name = f"Dataset {i:06d}"
            description = "Hourly sensor readings, cleaned and documented"
            created = now - timedelta(seconds=DATASETS - i)
            records.append(
                (
                    uuid.uuid4(),
                    name,
                    description,
                    location,
                    location_key(location),
                    normalise(f"{name} {description} {location}"),
                    rng.randint(100, 100_000),
                    "BRL",
                    rng.choice(["weather", "traffic", "energy", "agro"]),
                    "csv",
                    platform_id,
                    created,
                    created,
                )
            )
        columns = [
            "id",
            "name",
            "description",
            "location",
            "location_key",
            "search_text",
            "price_minor",
            "currency",
            "category",
            "format",
            "provider_account_id",
            "created_at",
            "updated_at",
        ]
        await conn.copy_records_to_table("datasets", records=records, columns=columns)
        seeded_datasets = time.perf_counter() - t0
        start = datetime(2026, 9, 15, tzinfo=UTC)
        account_rows, subscription_rows = [], []
        for i in range(ACCOUNTS):
            account_id = uuid.uuid4()
            account_rows.append(
                (
                    account_id,
                    f"Customer {i:05d}",
                    f"c{i:05d}@bench.invalid",
                    "active",
                    False,
                    now,
                    now,
                )
            )
            dataset = records[i]
            subscription_rows.append(
                (
                    uuid.uuid4(),
                    account_id,
                    dataset[0],
                    "active",
                    dataset[6],
                    "BRL",
                    start,
                    False,
                    start,
                    start,
                )
            )
        await conn.copy_records_to_table(
            "accounts",
            records=account_rows,
            columns=["id", "name", "email", "status", "is_platform", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "subscriptions",
            records=subscription_rows,
            columns=[
                "id",
                "account_id",
                "dataset_id",
                "status",
                "price_minor",
                "currency",
                "started_at",
                "cancel_at_period_end",
                "created_at",
                "updated_at",
            ],
        )
        await conn.execute("ANALYZE")
        print(
            f"seeded {DATASETS:,} datasets in {seeded_datasets:.1f} s (COPY), "
            f"{ACCOUNTS:,} accounts + subscriptions",
            flush=True,
        )
    finally:
        await conn.close()
    return operator_id, 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token(secret: str, user_id: uuid.UUID, version: int) -> str:
    from datetime import timedelta as td

    from nubo.kit.security import TokenCodec

    codec = TokenCodec(secret, "nubo", "nubo-api")
    value, _ = codec.encode(sub=user_id, typ="access", ttl=td(hours=1), version=version)
    return value


def get_json(url: str, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nubo serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("nubo serve did not become healthy")


def walk_to_page(base: str, headers: dict[str, str], page: int) -> tuple[str, list[float]]:
    """Follow next_cursor from page 1 to `page`; returns that page's URL and the walk's
    per-request latencies. Fails if an item repeats or the order breaks."""
    seen: set[str] = set()
    last_price = -1
    cursor = None
    latencies = []
    for _ in range(page - 1):
        query = {**QUERY, **({"cursor": cursor} if cursor else {})}
        t0 = time.perf_counter()
        body = get_json(f"{base}/api/datasets?{urllib.parse.urlencode(query)}", headers)
        latencies.append(time.perf_counter() - t0)
        for item in body["items"]:
            if item["id"] in seen:
                raise AssertionError(f"item repeated while paging: {item['id']}")
            seen.add(item["id"])
            price = int(item["price"].replace(".", ""))
            if price < last_price:
                raise AssertionError("prices went down while paging by price")
            last_price = price
        cursor = body["next_cursor"]
        if cursor is None:
            raise AssertionError(f"ran out of results before page {page}")
    query = {**QUERY, "cursor": cursor}
    return f"{base}/api/datasets?{urllib.parse.urlencode(query)}", latencies


def run_wrk(
    binary: str, url: str, headers: dict[str, str], seconds: int, workdir: Path
) -> dict[str, Any]:
    script = workdir / "done.lua"
    script.write_text(LUA_DONE)
    argv = [
        binary,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_RESULT "))
    data = json.loads(line.removeprefix("WRK_RESULT "))
    return {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "requests": data["requests"],
        "errors": data["status_errors"] + data["socket_errors"],
        "tool": "wrk",
    }


async def run_httpx(url: str, headers: dict[str, str], seconds: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        headers=headers, timeout=30, limits=httpx.Limits(max_connections=CONNECTIONS)
    ) as client:

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - t0)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "requests": len(latencies),
        "errors": errors,
        "tool": "httpx (wrk not found)",
    }


def measure(url: str, headers: dict[str, str], workdir: Path) -> dict[str, Any]:
    binary = shutil.which("wrk")
    if binary:
        run_wrk(binary, url, headers, WARMUP_S, workdir)
        return run_wrk(binary, url, headers, DURATION_S, workdir)
    asyncio.run(run_httpx(url, headers, WARMUP_S))
    return asyncio.run(run_httpx(url, headers, DURATION_S))


def close_month(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nubo.cli", "billing", "close-month", MONTH],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


async def count_invoices(dsn: str) -> tuple[int, int, str, str]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT number) AS distinct_numbers,"
            " min(number) AS first, max(number) AS last FROM invoices WHERE month = $1",
            MONTH,
        )
        return row["n"], row["distinct_numbers"], row["first"], row["last"]
    finally:
        await conn.close()


def main() -> int:
    name = f"nubo_bench_catalogue_{uuid.uuid4().hex[:10]}"
    url, dsn = _sync_url(name)
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    workdir = Path(tempfile.mkdtemp(prefix="nubo-bench-catalogue-"))
    server: subprocess.Popen[bytes] | None = None
    started = time.perf_counter()
    try:
        operator_id, version = asyncio.run(seed(dsn, url))
        secret = secrets.token_urlsafe(48)
        port = free_port()
        env = {
            **os.environ,
            "NUBO_ENV": "development",
            "NUBO_DATABASE_URL": url,
            "NUBO_JWT_SECRET": secret,
            "NUBO_DATA_DIR": str(workdir / "data"),
            "NUBO_DB_POOL_SIZE": str(max(4, CONNECTIONS // max(1, WORKERS))),
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nubo.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(WORKERS),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server)
        headers = {"Authorization": f"Bearer {token(secret, operator_id, version)}"}
        first_url = f"{base}/api/datasets?{urllib.parse.urlencode(QUERY)}"
        first = get_json(first_url, headers)
        assert len(first["items"]) == PAGE, first
        t0 = time.perf_counter()
        target_url, walk = walk_to_page(base, headers, TARGET_PAGE)
        walked = time.perf_counter() - t0
        target = get_json(target_url, headers)
        assert len(target["items"]) == PAGE, "page 1,000 is not full"
        print(
            f"walked to page {TARGET_PAGE:,} in {walked:.1f} s "
            f"(median {statistics.median(walk) * 1000:.1f} ms per page, one client)",
            flush=True,
        )
        page1 = measure(first_url, headers, workdir)
        page1000 = measure(target_url, headers, workdir)
        server.terminate()
        server.wait(timeout=30)
        server = None
        close_s = close_month(env)
        invoices, distinct, first_no, last_no = asyncio.run(count_invoices(dsn))
        assert invoices == ACCOUNTS == distinct, (invoices, distinct)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        drop_database(name)
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = page1000["p50_ms"] / page1["p50_ms"]
    tool = page1["tool"]
    filt = "location=sao paulo, br & price 10-900 BRL, sort=price, limit=50"
    summary = [
        f"GET /api/datasets ({filt}) page 1: {page1['rps']:.0f} req/s, "
        f"p50 {page1['p50_ms']:.1f} ms, p99 {page1['p99_ms']:.1f} ms ({tool}, "
        f"{CONNECTIONS} connections, {WORKERS} API process)",
        f"GET /api/datasets page {TARGET_PAGE:,} (by cursor): {page1000['rps']:.0f} req/s, "
        f"p50 {page1000['p50_ms']:.1f} ms, p99 {page1000['p99_ms']:.1f} ms",
        f"page {TARGET_PAGE:,} / page 1 latency (p50): {ratio:.2f}x (goal <= 1.5x)",
        f"nubo billing close-month for {ACCOUNTS:,} accounts: {close_s:.1f} s "
        f"({ACCOUNTS / close_s:.0f} invoices/s; {first_no} .. {last_no}, gapless)",
    ]
    result = {
        "name": "catalogue",
        "datasets": DATASETS,
        "accounts": ACCOUNTS,
        "query": QUERY,
        "page_1": page1,
        f"page_{TARGET_PAGE}": page1000,
        "latency_ratio_p50": ratio,
        "close_month_s": close_s,
        "invoices": invoices,
        "cpu_count": os.cpu_count(),
        "total_s": time.perf_counter() - started,
        "summary": summary,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "catalogue.json").write_text(json.dumps(result, indent=2))
    print("\n".join(summary))
    return 0 if invoices == ACCOUNTS else 1


if __name__ == "__main__":
    raise SystemExit(main())
