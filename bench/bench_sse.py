"""Live status at scale: open event streams on one API process, beside their baselines.

Run: `uv run python bench/bench_sse.py` (or `make bench BENCH_ARGS=sse`). About 3 minutes.

Part 1, PostgreSQL (a fresh database, dropped at the end even on failure; `nubo migrate`,
one account, one flight; `nubo serve --workers 1` with production settings). The streams
are account streams (`GET /api/events`, what a panel page opens), held by a client in a
second process (asyncio over bare sockets: reading and matching `id:` lines, so the
client's own cost per event stays small beside the server's), opened in batches. Each
server, one after the other:

- `notify` (the default, `NUBO_EVENTS_LISTEN=true`): `GET /api/users/profile` latency and
  the idle database load with no stream; then 300 streams: idle load, delivery; then 1,000
  streams: idle load, delivery, profile latency.
- `poll` (the path before, `NUBO_EVENTS_LISTEN=false`: each stream reads the table every
  `NUBO_EVENTS_POLL_S` = 0.5 s): with 300 streams, idle load, delivery, profile latency.

Idle load: transactions per second in the bench database while nothing happens
(`pg_stat_database` commits + rollbacks, delta over IDLE_S seconds, read from another
database, after 11 s of quiet: an idle backend publishes its counts up to 10 s late; a
read-only session that closes without COMMIT counts as a rollback). Delivery: EVENTS status
changes written by this process (as a worker would: an INSERT into `flight_events`,
committed), 0.5 s apart; for each, the time from before its
COMMIT to its arrival at every stream (one clock, one machine); p50/p99/max over every
(event, stream) pair, and how many never arrived. Profile latency: PROFILE_REQUESTS
sequential requests on one keep-alive connection, p50/p99.

Part 2, `make run` (embedded: SQLite in a temporary data directory, jobs in-process, the
local folder store, default settings): upload -> `processed` seen on the flight's stream
(opened before the upload), ROUNDS rounds after one warm-up, for `notify` and for `poll`,
on bench_e2e's simulated 2-hour flight at 8 Hz (57,600 rows, 12 MB of CSV), with
bench_e2e's round: create, open the stream, upload multipart, wait for `processed`. Also
split: the upload request itself, upload start -> the `processed` row's `created_at` (the
server's work), and the delivery lag (arrival minus `created_at`).

Goals: idle load < 30 transactions/s at 300 and at 1,000 streams; delivery p99 < 250 ms at
1,000 streams; profile p50 and p99 with 1,000 streams within 1.5x of no streams; upload ->
processed p50 < 0.25 s on `make run`. Prints tables and ratios; writes bench/out/sse.json.

Knobs: BENCH_ADMIN_DATABASE_URL [postgresql+asyncpg://postgres@127.0.0.1:5432/test],
BENCH_SSE_STREAMS [1000], BENCH_SSE_FEW [300], BENCH_SSE_IDLE_S [15], BENCH_SSE_EVENTS [10],
BENCH_SSE_PROFILE_REQUESTS [300], BENCH_SSE_ROUNDS [10], BENCH_SSE_HOURS [2],
BENCH_SSE_RATE_HZ [8], BENCH_SSE_ONLY [] (`notify`: the default path on PostgreSQL alone).
The machine is shared: read the figures beside the load average printed with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pgadmin import admin, database_url, drop_database

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
STREAMS = int(os.environ.get("BENCH_SSE_STREAMS", "1000"))
FEW = int(os.environ.get("BENCH_SSE_FEW", "300"))
IDLE_S = float(os.environ.get("BENCH_SSE_IDLE_S", "15"))
EVENTS = int(os.environ.get("BENCH_SSE_EVENTS", "10"))
PROFILE_REQUESTS = int(os.environ.get("BENCH_SSE_PROFILE_REQUESTS", "300"))
ROUNDS = int(os.environ.get("BENCH_SSE_ROUNDS", "10"))
HOURS = float(os.environ.get("BENCH_SSE_HOURS", "2"))
RATE_HZ = float(os.environ.get("BENCH_SSE_RATE_HZ", "8"))
# `notify`: only the default path on PostgreSQL (its figures as JSON, no ratios).
ONLY = os.environ.get("BENCH_SSE_ONLY", "")
OPEN_BATCH = 50
PASSWORD = "bench-password-1"
EMAIL = "bench-sse@example.com"

GOAL_IDLE_TPS = 30.0
GOAL_P99_S = 0.25
GOAL_PROFILE_RATIO = 1.5
GOAL_E2E_S = 0.25


# ---------------------------------------------------------------- client process


ID_LINE = re.compile(rb"^id: (\d+)\r?$", re.MULTILINE)


async def hold(host: str, port: int, token: str, opened: asyncio.Queue[bool],
               arrivals: dict[int, list[float]]) -> None:
    """One account stream over a bare socket: the client's own cost per event (a read and
    a regular expression) stays small beside the server's, which is what is measured."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
                     .encode())
        status = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # the response headers
        ok = b" 200 " in status
        opened.put_nowait(ok)
        if not ok:
            return
        tail = b""
        while chunk := await reader.read(65536):
            now = time.time()
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            for match in ID_LINE.finditer(data, 0, cut):
                arrivals[int(match.group(1))].append(now)
    finally:
        writer.close()


async def client_main(base: str, token: str, count: int) -> None:
    """Hold `count` account streams; print `ready` once all are open, then on a `report`
    line on stdin print every event's arrival times as JSON and exit."""
    arrivals: dict[int, list[float]] = defaultdict(list)
    host, _, port = base.removeprefix("http://").partition(":")
    opened: asyncio.Queue[bool] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []
    good = 0
    for start in range(0, count, OPEN_BATCH):
        size = min(OPEN_BATCH, count - start)
        tasks += [asyncio.create_task(hold(host, int(port), token, opened, arrivals))
                  for _ in range(size)]
        for _ in range(size):
            good += await asyncio.wait_for(opened.get(), 60)
    if good != count:
        print(f"only {good} of {count} streams opened", flush=True)
        return
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(json.dumps({"opened": good, "arrivals": {str(k): v for k, v in arrivals.items()}}),
          flush=True)
    for task in tasks:
        task.cancel()


@dataclass
class Streams:
    proc: subprocess.Popen[str]
    count: int

    @classmethod
    def open(cls, base: str, token: str, count: int) -> Streams:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--client", base, token, str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            raise RuntimeError(f"the stream client did not open {count} streams: {line!r}")
        return cls(proc, count)

    def report(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("report\n")
        self.proc.stdin.flush()
        data = json.loads(self.proc.stdout.readline())
        self.close()
        return data

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- database and server


async def seed(url: str) -> uuid.UUID:
    """One account, its admin, one flight (the one whose status changes); the flight id."""
    from nubo.flights.schemas import FlightCreate
    from nubo.flights.service import create_flight
    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.kit.security import PasswordHasher
    from nubo.models import Account, Role, User
    from nubo.settings import Settings

    defaults = Settings(_env_file=None)
    hasher = PasswordHasher(defaults.argon2_time_cost, defaults.argon2_memory_cost_kib)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            account = Account(name="Bench SSE", email="bench-sse-account@example.com")
            session.add(account)
            await session.flush()
            session.add(User(account_id=account.id, name="Bench", email=EMAIL,
                             password_hash=hasher.hash(PASSWORD), role=Role.admin))
            flight = await create_flight(session, account.id,
                                         FlightCreate(registration="PR-SSE"))
            return flight.id
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVER_PIDS: dict[str, int] = {}


def server_cpu_s(base: str) -> float:
    """User + system CPU seconds of the server process so far."""
    import psutil

    times = psutil.Process(SERVER_PIDS[base]).cpu_times()
    return float(times.user + times.system)


@contextlib.contextmanager
def serve(env: dict[str, str], workdir: Path, name: str) -> Iterator[str]:
    port = free_port()
    log = (workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nubo.cli", "serve", "--workers", "1", "--port", str(port)],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{(workdir / f'{name}.log').read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.2)
        SERVER_PIDS[base] = proc.pid
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def login(base: str) -> str:
    r = httpx.post(f"{base}/api/auth/login", json={"email": EMAIL, "password": PASSWORD},
                   timeout=30)
    r.raise_for_status()
    return str(r.json()["access_token"])


# ---------------------------------------------------------------- measurements


def idle_tps(name: str) -> float:
    """Transactions (commits and rollbacks) per second in the bench database, idle."""
    query = ("SELECT xact_commit + xact_rollback FROM pg_stat_database"
             " WHERE datname = :name")
    # An idle backend publishes its counts up to 10 s late (PostgreSQL 15): what was done
    # before the window (the streams opened, requests) is counted before it starts.
    time.sleep(11)
    before = asyncio.run(admin(query, name=name))
    start = time.monotonic()
    time.sleep(IDLE_S)
    after = asyncio.run(admin(query, name=name))
    return float(after - before) / (time.monotonic() - start)


async def write_events(url: str, flight_id: uuid.UUID, count: int) -> dict[int, float]:
    """Status changes as a worker writes them; each event's wall time before its COMMIT."""
    from sqlalchemy import text

    from nubo.kit.db import create_engine

    engine = create_engine(url)
    sent: dict[int, float] = {}
    try:
        for i in range(count):
            async with engine.connect() as conn:
                event_id = (await conn.execute(text(
                    "INSERT INTO flight_events (flight_id, status, message, created_at) "
                    "VALUES (:f, :s, :m, now()) RETURNING id"),
                    {"f": flight_id, "s": "processing", "m": f"bench {i}"})).scalar_one()
                sent[int(event_id)] = time.time()
                await conn.commit()
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    await asyncio.sleep(2)  # the stragglers arrive
    return sent


def delivery(streams: list[Streams], sent: dict[int, float]) -> dict[str, Any]:
    delays: list[float] = []
    missing = 0
    expected = sum(s.count for s in streams)
    for s in streams:
        arrivals = s.report()["arrivals"]
        for event_id, t0 in sent.items():
            got = arrivals.get(str(event_id), [])
            delays += [t - t0 for t in got]
            missing += s.count - len(got)
    delays.sort()
    return {"streams": expected, "events": len(sent), "missing": missing,
            "p50_s": pct(delays, 50), "p99_s": pct(delays, 99), "max_s": delays[-1]}


def profile_latency(base: str, token: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    times: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for i in range(PROFILE_REQUESTS + 20):
            start = time.perf_counter()
            r = client.get("/api/users/profile")
            if i >= 20:  # warm-up
                times.append(time.perf_counter() - start)
            r.raise_for_status()
    times.sort()
    return {"p50_s": pct(times, 50), "p99_s": pct(times, 99)}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------- part 1: PostgreSQL


def run_notify(env: dict[str, str], workdir: Path, name: str, url: str,
               flight_id: uuid.UUID) -> dict[str, Any]:
    res: dict[str, Any] = {}
    with serve(env | {"NUBO_EVENTS_LISTEN": "true"}, workdir, "notify") as base:
        token = login(base)
        res["profile_0"] = profile_latency(base, token)
        res["idle_0"] = idle_tps(name)
        print(f"... notify, no stream: idle {res['idle_0']:.1f} tx/s (load {load()})",
              flush=True)
        few = Streams.open(base, token, FEW)
        rest: Streams | None = None
        try:
            res["idle_few"] = idle_tps(name)
            print(f"... notify, {FEW} streams: idle {res['idle_few']:.1f} tx/s", flush=True)
            sent = asyncio.run(write_events(url, flight_id, EVENTS))
            res["delivery_few"] = delivery([few], sent)
            few = Streams.open(base, token, FEW)
            rest = Streams.open(base, token, STREAMS - FEW)
            res["idle_all"] = idle_tps(name)
            print(f"... notify, {STREAMS} streams: idle {res['idle_all']:.1f} tx/s", flush=True)
            res["profile_all"] = profile_latency(base, token)
            cpu = server_cpu_s(base)
            sent = asyncio.run(write_events(url, flight_id, EVENTS))
            # Load-independent: what a status change costs the server at 1,000 streams
            # (the EVENTS changes plus the quiet seconds around them, heartbeats included).
            res["cpu_per_event_s"] = (server_cpu_s(base) - cpu) / EVENTS
            res["delivery_all"] = delivery([few, rest], sent)
            print(f"... notify, {STREAMS} streams: delivery p99 "
                  f"{res['delivery_all']['p99_s'] * 1000:.0f} ms (load {load()})", flush=True)
        finally:
            few.close()
            if rest is not None:
                rest.close()
    return res


def run_poll(env: dict[str, str], workdir: Path, name: str, url: str,
             flight_id: uuid.UUID) -> dict[str, Any]:
    res: dict[str, Any] = {}
    with serve(env | {"NUBO_EVENTS_LISTEN": "false"}, workdir, "poll") as base:
        token = login(base)
        streams = Streams.open(base, token, FEW)
        try:
            res["idle_few"] = idle_tps(name)
            print(f"... poll, {FEW} streams: idle {res['idle_few']:.1f} tx/s", flush=True)
            res["profile_few"] = profile_latency(base, token)
            sent = asyncio.run(write_events(url, flight_id, EVENTS))
            res["delivery_few"] = delivery([streams], sent)
        finally:
            streams.close()
    return res


def part_postgres(workdir: Path) -> dict[str, Any]:
    name = f"nubo_bench_sse_{uuid.uuid4().hex[:12]}"
    url = database_url(name)
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NUBO_")},
            "NUBO_DATABASE_URL": url,
            "NUBO_ENV": "production",
            "NUBO_JWT_SECRET": secrets.token_hex(32),
            "NUBO_STORAGE_URL": (workdir / "objects").as_uri(),
            "NUBO_EVENTS_MAX_STREAMS_PER_ACCOUNT": str(STREAMS + 10),
            "NUBO_LOGIN_ATTEMPTS_PER_EMAIL": "1000000",
            "NUBO_LOGIN_ATTEMPTS_PER_ADDRESS": "1000000",
        }
        subprocess.run([sys.executable, "-m", "nubo.cli", "migrate"], cwd=workdir, env=env,
                       check=True, capture_output=True)
        flight_id = asyncio.run(seed(url))
        notify = run_notify(env, workdir, name, url, flight_id)
        if ONLY == "notify":
            return {"notify": notify}
        poll = run_poll(env, workdir, name, url, flight_id)
    finally:
        drop_database(name)
    return {"notify": notify, "poll": poll}


# ---------------------------------------------------------------- part 2: make run


async def e2e_rounds(base: str, path: Path) -> list[dict[str, Any]]:
    import bench_e2e

    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        headers = await bench_e2e.sign_up(client)
        await bench_e2e.one_round(client, headers, path)  # warm-up: imports, caches
        return [await bench_e2e.one_round(client, headers, path) for _ in range(ROUNDS)]


def part_embedded(workdir: Path) -> dict[str, Any]:
    import bench_e2e

    bench_e2e.HOURS = HOURS
    bench_e2e.RATE_HZ = RATE_HZ
    path = workdir / "flight.csv"
    rows = bench_e2e.make_flight_csv(path)
    res: dict[str, Any] = {"rows": rows, "bytes": path.stat().st_size}
    for mode, listen in (("notify", "true"), ("poll", "false")):
        data_dir = workdir / f"data-{mode}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUBO_")}
        env |= {"NUBO_DATA_DIR": str(data_dir), "NUBO_EVENTS_LISTEN": listen}
        with serve(env, workdir, f"embedded-{mode}") as base:
            rounds = asyncio.run(e2e_rounds(base, path))
        res[mode] = {
            key: statistics.median(r[key] for r in rounds)
            for key in ("e2e_s", "upload_s", "start_to_recorded_s", "delivery_lag_s",
                        "queued_to_processed_s")
        }
        print(f"... make run, {mode}: upload -> processed p50 {res[mode]['e2e_s']:.3f} s",
              flush=True)
    return res


# ---------------------------------------------------------------- report


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def report(pg: dict[str, Any], emb: dict[str, Any]) -> list[str]:
    n, p = pg["notify"], pg["poll"]
    d_all, d_few, d_poll = n["delivery_all"], n["delivery_few"], p["delivery_few"]
    ratio50 = n["profile_all"]["p50_s"] / n["profile_0"]["p50_s"]
    ratio99 = n["profile_all"]["p99_s"] / n["profile_0"]["p99_s"]

    def ok(flag: bool) -> str:
        return "met" if flag else "NOT met"

    lines = [
        f"idle load: notify {n['idle_few']:.1f} tx/s at {FEW} streams, {n['idle_all']:.1f} at "
        f"{STREAMS}, {n['idle_0']:.1f} with none; poll {p['idle_few']:.1f} at {FEW} "
        f"(poll/notify at {FEW}: {p['idle_few'] / max(n['idle_few'], 0.1):.0f}x; goal < "
        f"{GOAL_IDLE_TPS:.0f}: {ok(max(n['idle_few'], n['idle_all']) < GOAL_IDLE_TPS)})",
        f"delivery to {STREAMS} streams: p50 {ms(d_all['p50_s'])}, p99 {ms(d_all['p99_s'])}, "
        f"max {ms(d_all['max_s'])}, {d_all['missing']} missing; server CPU per change "
        f"{ms(n['cpu_per_event_s'])} (goal p99 < "
        f"{ms(GOAL_P99_S)}: {ok(d_all['p99_s'] < GOAL_P99_S and not d_all['missing'])})",
        f"delivery to {FEW} streams: notify p99 {ms(d_few['p99_s'])}, poll p99 "
        f"{ms(d_poll['p99_s'])} (poll/notify {d_poll['p99_s'] / d_few['p99_s']:.1f}x); "
        f"missing {d_few['missing']} / {d_poll['missing']}",
        f"GET /api/users/profile with {STREAMS} streams / none: p50 "
        f"{ms(n['profile_all']['p50_s'])} / {ms(n['profile_0']['p50_s'])} = {ratio50:.2f}x, "
        f"p99 {ms(n['profile_all']['p99_s'])} / {ms(n['profile_0']['p99_s'])} = "
        f"{ratio99:.2f}x (goal <= {GOAL_PROFILE_RATIO}x: "
        f"{ok(max(ratio50, ratio99) <= GOAL_PROFILE_RATIO)}); poll with {FEW} streams: p50 "
        f"{ms(p['profile_few']['p50_s'])}, p99 {ms(p['profile_few']['p99_s'])}",
        f"make run, upload -> processed on the stream (p50, {emb['rows']} rows): notify "
        f"{emb['notify']['e2e_s']:.3f} s, poll {emb['poll']['e2e_s']:.3f} s (poll/notify "
        f"{emb['poll']['e2e_s'] / emb['notify']['e2e_s']:.1f}x; goal < {GOAL_E2E_S} s: "
        f"{ok(emb['notify']['e2e_s'] < GOAL_E2E_S)}); of which upload request "
        f"{emb['notify']['upload_s']:.3f} s, server work to `processed` "
        f"{emb['notify']['start_to_recorded_s']:.3f} s, delivery lag "
        f"{emb['notify']['delivery_lag_s']:.3f} s (poll: {emb['poll']['delivery_lag_s']:.3f} s)",
    ]
    return lines


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="nubo-bench-sse-") as tmp:
        workdir = Path(tmp)
        pg = part_postgres(workdir)
        if ONLY == "notify":
            print(json.dumps(pg, indent=1))
            return 0
        emb = part_embedded(workdir)
    summary = report(pg, emb)
    print()
    for line in summary:
        print(line)
    print(f"load average before {load_before}, after {load()}; "
          f"{time.perf_counter() - started:.0f} s")
    (OUT / "sse.json").write_text(json.dumps(
        {"summary": summary, "postgres": pg, "embedded": emb,
         "load_before": load_before, "load_after": load()}, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        asyncio.run(client_main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        raise SystemExit(0)
    raise SystemExit(main())
