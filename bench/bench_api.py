"""The API under real HTTP load: `nubo serve` on PostgreSQL beside a raw-ASGI ceiling.

Run: `uv run python bench/bench_api.py` (or `make bench BENCH_ARGS=api`).

Steps: create a fresh PostgreSQL database (dropped at the end, even on failure), migrate it with
`nubo migrate`, seed one account with 50 users, start `nubo serve` (production settings, random
JWT secret, login throttling raised out of the way), log in for a token, then load each route with
wrk (warm-up, then a measured run, same connections for both servers) and do the same against
bench/api_ceiling.py (a raw ASGI callable doing the same statements over the same engine and
pool, served by uvicorn with the same settings). The servers run one after the other, never at
the same time. Prints a table per route and writes bench/out/api.json.

Two more comparisons in the same run:
- Tail latency: `GET /api/users/profile` on `nubo serve` as shipped beside the same server with
  `NUBO_GC_TUNING=false` (the collector's defaults, the start-up heap not frozen): p99 / p50 of
  each, goal <= 5 for the tuned server (docs/decisions/ops-gc-tuning.md).
- List cost: the server's CPU per request of a page of 50 flights (processed, with findings
  and phases), 50 datasets and 50 aircraft, each over the profile route's CPU per request
  in this run; goal <= 3.

Environment knobs (defaults in brackets): BENCH_ADMIN_DATABASE_URL
[postgresql+asyncpg://postgres@127.0.0.1:5432/test], BENCH_API_DURATION [10] and
BENCH_API_WARMUP [2] seconds, BENCH_API_ROUNDS [2], BENCH_API_CONNECTIONS [32],
BENCH_API_THREADS [2], BENCH_API_START_S [120] (how long a server may take to start).

Noise: on a small shared machine, other processes steal CPU from either side at random. So the
GET routes run in ROUNDS alternating rounds of DURATION/ROUNDS seconds (nubo, ceiling, nubo,
ceiling, each a fresh process) and the best round of each side is kept; login (Argon2-bound,
seconds per request) runs one round of DURATION. Each result also carries the server's own CPU
time per request (user+system of the server process), which contention disturbs far less than
req/s: the "cpu ratio" (ceiling CPU / nubo CPU per request) is the steadier efficiency figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from pgadmin import admin, database_url, drop_database

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DURATION_S = int(os.environ.get("BENCH_API_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_API_ROUNDS", "2"))
WARMUP_S = int(os.environ.get("BENCH_API_WARMUP", "2"))
CONNECTIONS = int(os.environ.get("BENCH_API_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_API_THREADS", "2"))
# A loaded machine can take a while to import and start a server.
START_S = int(os.environ.get("BENCH_API_START_S", "120"))
USERS_IN_ACCOUNT = 50
LIST_ROWS = 50
TAIL_GOAL = 5.0  # p99 / p50 of the profile route
LIST_GOAL = 3.0  # CPU per request of a list page / of the profile route
PASSWORD = "bench-password-1"
ADMIN_EMAIL = "bench-admin@example.com"
PROFILE_GOAL = 0.6
SECRET_MARKERS = ("change-me", "changeme", "secret", "default")
LIST_PATHS = ("/api/flight", "/api/datasets", "/api/aircraft")
GC_BASELINE = "nubo-gc-off"

# wrk reports through this hook: one JSON line, latencies in microseconds.
# errors.status counts responses with a status >= 400 (nothing here answers 3xx).
LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass
class Route:
    label: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    # The servers it runs on: the ceiling answers only the identity routes; the GC baseline
    # runs where tail latency is compared.
    sides: tuple[str, ...] = ("nubo", "ceiling")


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# ---------------------------------------------------------------- database


async def seed(url: str) -> uuid.UUID:
    """One account, one admin (the caller) and 49 members; one Argon2id hash shared by all."""
    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.kit.security import PasswordHasher
    from nubo.models import Account, Role, User
    from nubo.settings import Settings

    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    hasher = PasswordHasher(defaults.argon2_time_cost, defaults.argon2_memory_cost_kib)
    password_hash = hasher.hash(PASSWORD)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            account = Account(name="Bench account", email="bench-account@example.com")
            session.add(account)
            await session.flush()
            for i in range(USERS_IN_ACCOUNT):
                session.add(
                    User(
                        account_id=account.id,
                        name=f"Bench user {i}",
                        email=ADMIN_EMAIL if i == 0 else f"bench-user-{i}@example.com",
                        password_hash=password_hash,
                        role=Role.admin if i == 0 else Role.member,
                    )
                )
            await session.flush()
            await seed_lists(session, account.id)
            return account.id
    finally:
        await engine.dispose()


async def seed_lists(session: Any, account_id: uuid.UUID) -> None:
    """LIST_ROWS processed flights of as many aircraft (the pipeline's own result for a
    simulated flight: findings, phases, coverage, a trend state) and LIST_ROWS datasets."""
    from datetime import timedelta

    from nubo.bleed.simulate import simulate_flight
    from nubo.fleet import trend
    from nubo.flights.analysis import analyze_file
    from nubo.flights.tasks import apply_outcome
    from nubo.kit.types import utcnow
    from nubo.models import Dataset, Flight, ProcessingStatus

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flight.csv"
        path.write_text(simulate_flight(seed=3, duration_h=1.0, rate_hz=1.0).write_csv())
        outcome = analyze_file(path, "A320", None)
    assert outcome.result is not None, outcome.error_message
    now = utcnow()
    for i in range(LIST_ROWS):
        departure = now - timedelta(hours=i + 2)
        flight = Flight(
            account_id=account_id, registration=f"PR-B{i:02d}", aircraft_type="A320",
            flight_number=f"LA{3400 + i}", origin="SBGR", destination="SBRJ",
            departure_at=departure, arrival_at=departure + timedelta(minutes=55),
            processing_status=ProcessingStatus.processing, processing_run=1,
            file_key=f"flights/{i}/data.csv", file_size=1_000_000, file_sha256="a" * 64,
            file_format="csv", file_name="flight.csv", file_uploaded_at=now,
        )
        session.add(flight)
        await session.flush()
        await apply_outcome(session, flight, outcome, 1)
        await trend.record(session, flight, outcome.result)
        session.add(
            Dataset(
                name=f"Bench dataset {i}", description="Hourly readings of a station. " * 4,
                location="São Paulo, BR", price_minor=4995 + i, currency="BRL",
                category="weather", format="csv", provider_account_id=account_id,
            )
        )
    await session.flush()


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def jwt_secret() -> str:
    while True:
        value = secrets.token_urlsafe(48)  # 64 characters
        if not any(marker in value.lower() for marker in SECRET_MARKERS):
            return value


def start(name: str, argv: list[str], env: dict[str, str], port: int, workdir: Path) -> Server:
    log = workdir / f"{name}.log"
    process = subprocess.Popen(
        argv,
        cwd=workdir,  # away from any .env in the checkout: the environment alone configures
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(name, process, port, log)
    try:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return server
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not listen on {port} within {START_S} s")
    except BaseException:  # interrupted while starting: no server left behind
        stop(server)
        raise


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def call(server: Server, route: Route) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.base + route.path,
        data=route.body.encode() if route.body is not None else None,
        headers=route.headers,
        method=route.method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def check(server: Server, route: Route) -> None:
    """One request before the load: the route must answer 200 with the expected shape."""
    status, body = call(server, route)
    ok = status == 200 and isinstance(body, dict)
    if ok and route.label.endswith("profile"):
        ok = body.get("email") == ADMIN_EMAIL
    elif ok and "/account/" in route.label:
        ok = len(body.get("items", [])) == USERS_IN_ACCOUNT and body.get("next_cursor") is None
    elif ok and route.path in LIST_PATHS:
        ok = len(body.get("items", [])) == LIST_ROWS
    elif ok and route.label.endswith("login"):
        ok = bool(body.get("access_token"))
    if not ok:
        raise RuntimeError(f"{server.name} {route.label}: {status} {str(body)[:300]}")


# ---------------------------------------------------------------- load


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing the Debian package", flush=True)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "check": False}
    if subprocess.run(install, **quiet).returncode != 0:  # type: ignore[call-overload]
        subprocess.run(["apt-get", "update", "-q"], **quiet)  # type: ignore[call-overload]
        subprocess.run(install, **quiet)  # type: ignore[call-overload]
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is required (apt-get install wrk) and could not be installed")
    return found


def lua_script(route: Route, workdir: Path) -> Path:
    lines = [f'wrk.method = "{route.method}"']
    for name, value in route.headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    if route.body is not None:
        lines.append(f"wrk.body = [[{route.body}]]")
    path = workdir / f"{route.method.lower()}-{abs(hash(route.label))}.lua"
    path.write_text("\n".join(lines) + "\n" + LUA_DONE)
    return path


def wrk(binary: str, server: Server, route: Route, seconds: int, workdir: Path) -> dict[str, Any]:
    script = lua_script(route, workdir)
    argv = [
        binary,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        server.base + route.path,
    ]
    proc = psutil.Process(server.process.pid)
    cpu_before = sum(proc.cpu_times()[:2])
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    cpu = sum(proc.cpu_times()[:2]) - cpu_before
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    raw = json.loads(line.removeprefix("WRK_RESULT "))
    seconds_run = raw["duration_us"] / 1e6
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds_run,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non_2xx": raw["status"],
        "socket_errors": socket_errors,
        "server_cpu_us_per_request": cpu / max(raw["requests"], 1) * 1e6,
        "seconds": seconds_run,
    }


def settle(server: Server, limit_s: float = 15.0) -> None:
    """Wait until the server is idle: work queued by the warm-up (Argon2) must not spill over."""
    proc = psutil.Process(server.process.pid)
    deadline = time.monotonic() + limit_s
    proc.cpu_percent(None)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if proc.cpu_percent(None) < 10:
            return


def measure(
    binary: str, server: Server, route: Route, seconds: int, workdir: Path
) -> dict[str, Any]:
    check(server, route)
    # Login answers in seconds (Argon2): a warm-up would leave a queue of verifications
    # running into the measurement; the checking request above warms its path instead.
    if WARMUP_S and route.method == "GET":
        wrk(binary, server, route, WARMUP_S, workdir)
        settle(server)
    result = wrk(binary, server, route, seconds, workdir)
    print(
        f"  {server.name:8} {route.label:38} {fmt_rps(result['rps']):>7} req/s"
        f"  p50 {fmt_ms(result['p50_ms']):>8}  p99 {fmt_ms(result['p99_ms']):>8}"
        f"  cpu {result['server_cpu_us_per_request']:6.0f} us/req"
        f"  non-2xx {result['non_2xx']}  socket errors {result['socket_errors']}",
        flush=True,
    )
    return result


def best(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The best round by req/s, with every round kept and errors summed over all of them."""
    top = dict(max(rounds, key=lambda r: r["rps"]))
    top["non_2xx"] = sum(r["non_2xx"] for r in rounds)
    top["socket_errors"] = sum(r["socket_errors"] for r in rounds)
    top["server_cpu_us_per_request"] = min(r["server_cpu_us_per_request"] for r in rounds)
    top["rounds"] = rounds
    return top


# ---------------------------------------------------------------- report


def fmt_rps(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def report(routes: list[Route], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    nubo, ceiling = results["nubo"], results["ceiling"]
    rows: list[dict[str, Any]] = []
    summary: list[str] = []
    header = (
        f"{'route':38} | {'nubo req/s':>10} {'p50':>8} {'p99':>8} | "
        f"{'ceiling req/s':>13} {'p50':>8} {'p99':>8} | {'ratio':>5} | "
        f"{'cpu us/req nubo/ceiling':>23} {'cpu ratio':>9}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for route in routes:
        if "ceiling" not in route.sides:
            continue
        n, c = nubo[route.label], ceiling[route.label]
        ratio = n["rps"] / c["rps"] if c["rps"] else 0.0
        n_cpu, c_cpu = n["server_cpu_us_per_request"], c["server_cpu_us_per_request"]
        cpu_ratio = c_cpu / n_cpu if n_cpu else 0.0
        rows.append(
            {
                "route": route.label,
                "nubo": n,
                "ceiling": c,
                "ratio": round(ratio, 3),
                "cpu_ratio": round(cpu_ratio, 3),
            }
        )
        print(
            f"{route.label:38} | {fmt_rps(n['rps']):>10} {fmt_ms(n['p50_ms']):>8} "
            f"{fmt_ms(n['p99_ms']):>8} | {fmt_rps(c['rps']):>13} {fmt_ms(c['p50_ms']):>8} "
            f"{fmt_ms(c['p99_ms']):>8} | {ratio:5.2f} | "
            f"{f'{n_cpu:.0f} / {c_cpu:.0f}':>23} {cpu_ratio:9.2f}"
        )
        line = (
            f"{route.label}: {fmt_rps(n['rps'])} req/s p50 {fmt_ms(n['p50_ms'])} "
            f"p99 {fmt_ms(n['p99_ms'])} = {ratio:.2f}x ceiling ({fmt_rps(c['rps'])} req/s); "
            f"server CPU {n_cpu:.0f} vs {c_cpu:.0f} us/req = {cpu_ratio:.2f}x"
        )
        for who, v in (("nubo", n), ("ceiling", c)):
            if v["non_2xx"] or v["socket_errors"]:
                line += f"; {who}: {v['non_2xx']} non-2xx, {v['socket_errors']} socket errors"
        summary.append(line)
    profile = next(r for r in rows if r["route"].endswith("profile"))
    verdict = "met" if profile["ratio"] >= PROFILE_GOAL else "NOT met"
    summary.append(
        f"goal GET /api/users/profile >= {PROFILE_GOAL}x ceiling req/s: {verdict} "
        f"({profile['ratio']:.2f}x; cpu ratio {profile['cpu_ratio']:.2f}x)"
    )
    tail = tail_report(routes, results, summary)
    lists = list_report(routes, nubo, summary)
    print("\n" + "\n".join(summary))
    return {"routes": rows, "tail": tail, "lists": lists, "summary": summary}


def tail_report(
    routes: list[Route], results: dict[str, dict[str, Any]], summary: list[str]
) -> list[dict[str, Any]]:
    """p99 / p50 of the tuned server beside the collector's defaults, same route, same run."""
    rows = []
    print(f"\n{'tail latency':38} | {'server':12} {'p50':>8} {'p99':>8} {'p99/p50':>8} {'max':>8}")
    for route in routes:
        if GC_BASELINE not in route.sides:
            continue
        row: dict[str, Any] = {"route": route.label}
        for which in ("nubo", GC_BASELINE):
            r = results[which][route.label]
            # Every round counts: a pause lands in whichever round it lands in.
            p50 = statistics.median(x["p50_ms"] for x in r["rounds"])
            p99 = max(x["p99_ms"] for x in r["rounds"])
            worst = max(x["max_ms"] for x in r["rounds"])
            row[which] = {"p50_ms": p50, "p99_ms": p99, "max_ms": worst, "ratio": p99 / p50}
            print(f"{route.label:38} | {which:12} {fmt_ms(p50):>8} {fmt_ms(p99):>8} "
                  f"{p99 / p50:8.1f} {fmt_ms(worst):>8}")
        tuned, base = row["nubo"], row[GC_BASELINE]
        verdict = "met" if tuned["ratio"] <= TAIL_GOAL else "NOT met"
        summary.append(
            f"{route.label} tail: p99/p50 {tuned['ratio']:.1f} (p50 {fmt_ms(tuned['p50_ms'])}, "
            f"p99 {fmt_ms(tuned['p99_ms'])}) vs GC defaults {base['ratio']:.1f} "
            f"(p50 {fmt_ms(base['p50_ms'])}, p99 {fmt_ms(base['p99_ms'])}); "
            f"goal p99 <= {TAIL_GOAL:.0f}x p50: {verdict}"
        )
        rows.append(row)
    return rows


def list_report(
    routes: list[Route], nubo: dict[str, Any], summary: list[str]
) -> list[dict[str, Any]]:
    """Each list page's server CPU per request over the profile route's, same run."""
    profile = next(r for r in routes if r.label.endswith("profile"))
    base = nubo[profile.label]["server_cpu_us_per_request"]
    rows = []
    print(f"\n{'list cost (server CPU per request)':38} | {'us/req':>8} {'x profile':>9}")
    for route in routes:
        if route.path not in LIST_PATHS:
            continue
        cpu = nubo[route.label]["server_cpu_us_per_request"]
        ratio = cpu / base if base else 0.0
        rows.append({"route": route.label, "cpu_us": cpu, "profile_cpu_us": base,
                     "ratio": round(ratio, 2), "rps": nubo[route.label]["rps"]})
        print(f"{route.label:38} | {cpu:8.0f} {ratio:9.2f}")
        verdict = "met" if ratio <= LIST_GOAL else "NOT met"
        summary.append(
            f"{route.label}: {cpu:.0f} us CPU/req = {ratio:.2f}x the profile route ({base:.0f} "
            f"us); goal <= {LIST_GOAL:.0f}x: {verdict}"
        )
    return rows


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "system": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
    }


def versions(binary: str) -> dict[str, str]:
    from importlib.metadata import version

    wrk_version = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    first = (wrk_version.stdout or wrk_version.stderr).split("\n")[0]
    found = {"wrk": first.split(" [")[0].strip()}
    for name in ("fastapi", "starlette", "pydantic", "sqlalchemy", "asyncpg", "uvicorn"):
        found[name] = version(name)
    return found


# ---------------------------------------------------------------- main


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    binary = ensure_wrk()
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"nubo_bench_api_{uuid.uuid4().hex[:12]}"
    url = database_url(name)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="nubo-bench-api-"))
    servers: list[Server] = []
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        env = {
            **os.environ,
            "NUBO_DATABASE_URL": url,
            "NUBO_ENV": "production",
            "NUBO_JWT_SECRET": jwt_secret(),
            "NUBO_LOGIN_ATTEMPTS_PER_EMAIL": "1000000000",
            "NUBO_LOGIN_ATTEMPTS_PER_ADDRESS": "1000000000",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),  # bench.api_ceiling, imported from outside the checkout
        }
        subprocess.run(
            [sys.executable, "-m", "nubo.cli", "migrate"],
            cwd=workdir,
            env=env,
            check=True,
            capture_output=True,
        )
        account_id = asyncio.run(seed(url))
        from nubo.settings import Settings

        pool_size = Settings(_env_file=None, database_url=url).db_pool_size  # type: ignore[call-arg]

        nubo_argv = [sys.executable, "-m", "nubo.cli", "serve", "--workers", "1", "--port"]
        argv = {
            "nubo": nubo_argv,
            GC_BASELINE: nubo_argv,
            "ceiling": [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.api_ceiling:app",
                "--host",
                "127.0.0.1",
                "--workers",
                "1",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "info",
                "--port",
            ],
        }

        def serve(which: str) -> Server:
            port = free_port()
            env_of = {**env, "NUBO_GC_TUNING": "false"} if which == GC_BASELINE else env
            server = start(which, [*argv[which], str(port)], env_of, port, workdir)
            servers.append(server)
            return server

        login = Route(
            "POST /api/auth/login",
            "POST",
            "/api/auth/login",
            {"Content-Type": "application/json"},
            json.dumps({"email": ADMIN_EMAIL, "password": PASSWORD}),
        )
        nubo = serve("nubo")
        status, tokens = call(nubo, login)
        stop(nubo)
        if status != 200:
            raise RuntimeError(f"login failed: {status} {tokens}")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        routes = [
            Route("GET /api/users/profile", "GET", "/api/users/profile", bearer,
                  sides=("nubo", "ceiling", GC_BASELINE)),
            Route(
                "GET /api/users/account/{id} (50 users)",
                "GET",
                f"/api/users/account/{account_id}",
                bearer,
            ),
            *(
                Route(f"GET {path} (50 rows)", "GET", path, bearer, sides=("nubo",))
                for path in LIST_PATHS
            ),
            login,
        ]
        load_before = os.getloadavg()[0]
        print(
            f"wrk -t{THREADS} -c{CONNECTIONS}; per route and server {WARMUP_S} s warm-up + "
            f"{DURATION_S} s ({ROUNDS} alternating rounds, best kept; login 1 round); "
            f"fixed pool of {pool_size} connections on both servers; "
            f"load average before: {load_before:.1f}",
            flush=True,
        )
        # Per route and round: nubo alone, then the ceiling alone (fresh processes, never both
        # under load), so drifts of the machine hit both sides of a ratio alike.
        results: dict[str, dict[str, Any]] = {"nubo": {}, "ceiling": {}, GC_BASELINE: {}}
        for route in routes:
            rounds = 1 if route is login else max(ROUNDS, 1)
            seconds = max(DURATION_S // rounds, 1)
            runs: dict[str, list[dict[str, Any]]] = {which: [] for which in route.sides}
            for _ in range(rounds):
                for which in route.sides:
                    server = serve(which)
                    runs[which].append(measure(binary, server, route, seconds, workdir))
                    stop(server)
            for which, done in runs.items():
                results[which][route.label] = best(done)
        data = report(routes, results)
        data = {
            "benchmark": "api",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": versions(binary),
            "load": {
                "generator": "wrk",
                "threads": THREADS,
                "connections": CONNECTIONS,
                "warmup_s": WARMUP_S,
                "duration_s": DURATION_S,
                "rounds": ROUNDS,
                "kept": "best round by req/s (GET routes); login one round",
            },
            "servers": {
                "nubo": "nubo serve (FastAPI app, uvloop, httptools, 1 worker, no access log)",
                GC_BASELINE: "the same with NUBO_GC_TUNING=false (the collector's defaults)",
                "ceiling": "bench/api_ceiling.py raw ASGI on uvicorn, same settings",
                "database": "PostgreSQL, SQLAlchemy async engine over asyncpg, "
                f"fixed pool of {pool_size} connections (no overflow, no pre-ping), on both",
            },
            "load_average_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            "seconds_total": round(time.perf_counter() - started, 1),
            **data,
        }
        (OUT / "api.json").write_text(json.dumps(data, indent=2) + "\n")
        print(f"\nwrote {(OUT / 'api.json').relative_to(ROOT)} ({data['seconds_total']:.0f} s)")
        errors = sum(
            r["non_2xx"] + r["socket_errors"] for side in results.values() for r in side.values()
        )
        return 1 if errors else 0
    finally:
        for server in servers:
            stop(server)
        drop_database(name)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
