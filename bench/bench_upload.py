"""Flight upload through the API: `nubo serve` streaming a 1 GiB file to the object store,
beside a plain copy of the same bytes to the same store, in the same run.

Run: `uv run python bench/bench_upload.py` (or `make bench BENCH_ARGS=upload`).

For each store - a local folder, and S3 (a moto server started here on 127.0.0.1) - it
starts `nubo serve` as a subprocess (embedded SQLite in a temporary data directory, jobs
in-process), signs up, creates a flight, then:

- api: POST /api/flight/{id}/upload with the file as a raw streamed body (httpx, 1 MiB
  chunks, no Content-Length), i.e. HTTP parsing, cap, sniffing, sha256, and the store;
- plain copy: the same file to the same store without the API: an obstore multipart `put`
  of the open file (same part size and concurrency as the server). For the local folder an
  OS file copy (`shutil.copyfile`, page cache, no hashing) and the HTTP ceiling (a raw ASGI
  app on the same uvicorn that reads and hashes the body, bench/upload_ceiling.py) are
  shown too, for reference.

The server's RSS is sampled every 20 ms (psutil); the growth is its peak during the upload
minus its RSS just before. Prints a table and writes bench/out/upload.json ("summary" holds
one line per store). Goals: api >= 0.7 x plain copy; RSS growth < 64 MiB.

Knobs: BENCH_UPLOAD_MIB [1024], BENCH_UPLOAD_STORES [local,s3], BENCH_UPLOAD_ROUNDS [2]
(the best round of each side is kept: a shared machine steals CPU at random).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
MiB = 1024 * 1024
SIZE_MIB = int(os.environ.get("BENCH_UPLOAD_MIB", "1024"))
STORES = [s for s in os.environ.get("BENCH_UPLOAD_STORES", "local,s3").split(",") if s]
ROUNDS = int(os.environ.get("BENCH_UPLOAD_ROUNDS", "2"))
CHUNK = 1 * MiB
BUCKET = "nubo-bench"
S3_KEYS = {"access": "bench", "secret": "bench-secret", "region": "us-east-1"}
GOAL_RATIO = 0.7
GOAL_RSS_MIB = 64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout_s} s")


def make_file(path: Path, size: int) -> None:
    """A CSV with the required header followed by filler rows: `size` bytes."""
    from nubo.bleed.aliases import REQUIRED

    header = ",".join(["time_s", *REQUIRED]) + "\n"
    row = ",".join(["1"] * (len(REQUIRED) + 1)) + "\n"
    block = (row * (CHUNK // len(row) + 1)).encode()[:CHUNK]
    with path.open("wb") as fh:
        fh.write(header.encode())
        left = size - len(header)
        while left > 0:
            n = min(left, len(block))
            fh.write(block[:n])
            left -= n


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            wait_http(endpoint, proc)
            import boto3

            boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=S3_KEYS["region"],
                aws_access_key_id=S3_KEYS["access"],
                aws_secret_access_key=S3_KEYS["secret"],
            ).create_bucket(Bucket=BUCKET)
            yield endpoint
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    env: dict[str, str]
    samples: list[int] = field(default_factory=list)


@contextmanager
def nubo_server(data_dir: Path, extra_env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "NUBO_ENV": "development",
        "NUBO_DATA_DIR": str(data_dir),
        "NUBO_PORT": str(port),
        "NUBO_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "NUBO_MAX_UPLOAD_BYTES": str(4 * 1024 * MiB),
        **extra_env,
    }
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nubo.cli", "serve"], env=env, stdout=log, stderr=log, cwd=ROOT
    )
    server = Server(proc, f"http://127.0.0.1:{port}", env)
    try:
        wait_http(f"{server.base}/api/health", proc)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class RssSampler:
    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        self.proc = psutil.Process(pid)
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(self.every_s)

    def __enter__(self) -> RssSampler:
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / MiB


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while True:
            chunk = await asyncio.to_thread(fh.read, CHUNK)
            if not chunk:
                return
            yield chunk


async def api_upload(server: Server, path: Path) -> tuple[float, float, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.base, timeout=600) as client:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        r = await client.post(
            "/api/auth/signup",
            json={
                "account_name": "Bench",
                "name": "Bench",
                "email": email,
                "password": "bench-password",
            },
        )
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['tokens']['access_token']}"}
        # The request session commits after the response is sent (FastAPI's default
        # dependency scope), so give the sign-up a moment to be committed.
        await asyncio.sleep(0.5)
        r = await client.post(
            "/api/flight/create", json={"registration": "PR-XBA"}, headers=headers
        )
        if r.status_code != 201:
            raise RuntimeError(f"create flight: {r.status_code} {r.text}")
        flight_id = r.json()["id"]
        await asyncio.sleep(0.5)  # let the server settle before sampling its baseline
        with RssSampler(server.proc.pid) as rss:
            start = time.perf_counter()
            r = await client.post(
                f"/api/flight/{flight_id}/upload",
                content=file_chunks(path),
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            elapsed = time.perf_counter() - start
        r.raise_for_status()
        # Jobs run in-process: wait until the file's processing is over, so that it is not
        # sampled as part of the next round's upload.
        await settle(client, flight_id, headers)
        return elapsed, rss.growth_mib, r.json()


async def settle(client: httpx.AsyncClient, flight_id: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        r = await client.get(f"/api/flight/{flight_id}", headers=headers)
        r.raise_for_status()
        if r.json()["processing_status"] in ("processed", "failed"):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"flight {flight_id} still processing after 600 s")


@contextmanager
def ceiling_server() -> Iterator[str]:
    """bench/upload_ceiling.py on uvicorn with the server's loop and HTTP parser."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench")]
    args += ["upload_ceiling:app", "--port", str(port), "--loop", "uvloop"]
    args += ["--http", "httptools", "--log-level", "warning"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def http_ceiling(url: str, path: Path) -> float:
    """The same upload to the ceiling app (read + sha256, nothing stored)."""
    async with httpx.AsyncClient(timeout=600) as client:
        start = time.perf_counter()
        r = await client.post(url, content=file_chunks(path))
        elapsed = time.perf_counter() - start
        r.raise_for_status()
    return elapsed


def shutil_copy_local(path: Path, objects: Path) -> float:
    """Reference: the OS copying a file (page cache, no hashing, no HTTP)."""
    target = objects / "plain-copy" / uuid.uuid4().hex
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    shutil.copyfile(path, target)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


async def obstore_put_file(path: Path, kind: str, data_dir: Path, endpoint: str | None) -> float:
    """The plain copy: obstore `put` of the open file into the same store (multipart, the
    part size and concurrency the server uses), no API, no hashing."""
    import obstore
    from obstore.store import LocalStore, S3Store

    store: Any
    if kind == "local":
        store = LocalStore(data_dir / "objects")
    else:
        store = S3Store(
            BUCKET,
            endpoint=endpoint,
            region=S3_KEYS["region"],
            access_key_id=S3_KEYS["access"],
            secret_access_key=S3_KEYS["secret"],
            client_options={"allow_http": True},
        )
    key = f"plain-copy/{uuid.uuid4().hex}"
    start = time.perf_counter()
    with path.open("rb") as fh:
        await obstore.put_async(store, key, fh, chunk_size=8 * MiB, max_concurrency=2)
    elapsed = time.perf_counter() - start
    await obstore.delete_async(store, key)
    return elapsed


def mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


async def run_store(kind: str, path: Path, size: int, work: Path) -> dict[str, Any]:
    data_dir = work / f"data-{kind}"
    data_dir.mkdir()
    extra: dict[str, str] = {}
    endpoint = None
    ctx = moto_server() if kind == "s3" else None
    if ctx is not None:
        endpoint = ctx.__enter__()
        extra = {
            "NUBO_STORAGE_URL": f"s3://{BUCKET}/bench",
            "NUBO_S3_ENDPOINT": endpoint,
            "NUBO_S3_REGION": S3_KEYS["region"],
            "NUBO_S3_ACCESS_KEY_ID": S3_KEYS["access"],
            "NUBO_S3_SECRET_ACCESS_KEY": S3_KEYS["secret"],
            "NUBO_S3_ALLOW_HTTP": "true",
        }
    try:
        api_best = plain_best = shutil_best = ceiling_best = float("inf")
        rss_worst = 0.0
        with nubo_server(data_dir, extra) as server:
            for _ in range(ROUNDS):
                elapsed, growth, flight = await api_upload(server, path)
                assert flight["file"]["size"] == size, flight
                api_best = min(api_best, elapsed)
                rss_worst = max(rss_worst, growth)
                plain = await obstore_put_file(path, kind, data_dir, endpoint)
                plain_best = min(plain_best, plain)
                if kind == "local":
                    shutil_best = min(shutil_best, shutil_copy_local(path, data_dir / "objects"))
                    with ceiling_server() as url:
                        ceiling_best = min(ceiling_best, await http_ceiling(url, path))
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    api, plain = mbps(size, api_best), mbps(size, plain_best)
    return {
        "store": kind,
        "bytes": size,
        "api_mb_s": round(api, 1),
        "plain_copy_mb_s": round(plain, 1),
        "ratio": round(api / plain, 3),
        "os_copy_mb_s": round(mbps(size, shutil_best), 1) if kind == "local" else None,
        "http_ceiling_mb_s": round(mbps(size, ceiling_best), 1) if kind == "local" else None,
        "ratio_vs_os_copy": round(api / mbps(size, shutil_best), 3) if kind == "local" else None,
        "rss_growth_mib": round(rss_worst, 1),
        "rounds": ROUNDS,
        "goal_met": api / plain >= GOAL_RATIO and rss_worst < GOAL_RSS_MIB,
    }


async def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    size = SIZE_MIB * MiB
    results = []
    with tempfile.TemporaryDirectory(prefix="nubo-bench-upload-") as tmp:
        work = Path(tmp)
        path = work / "flight.csv"
        make_file(path, size)
        for kind in STORES:
            print(f"... {kind}: {ROUNDS} round(s) of {SIZE_MIB} MiB", flush=True)
            results.append(await run_store(kind, path, size, work))
    print()
    print(
        f"{'store':<6} {'API MB/s':>9} {'plain MB/s':>11} {'ratio':>6} {'RSS +MiB':>9}  goal"
        "   (OS copy MB/s)"
    )
    summary = []
    for r in results:
        goal = "met" if r["goal_met"] else "MISSED"
        print(
            f"{r['store']:<6} {r['api_mb_s']:>9.1f} {r['plain_copy_mb_s']:>11.1f} "
            f"{r['ratio']:>6.2f} {r['rss_growth_mib']:>9.1f}  {goal:<6}"
            f"  ({r['os_copy_mb_s'] or '-'})"
        )
        summary.append(
            f"{r['store']}: {SIZE_MIB} MiB upload through the API {r['api_mb_s']} MB/s vs plain "
            f"copy (obstore put of the file) {r['plain_copy_mb_s']} MB/s (ratio {r['ratio']}, "
            f"goal >= {GOAL_RATIO}); server RSS +{r['rss_growth_mib']} MiB (goal < "
            f"{GOAL_RSS_MIB})"
            + (
                f"; OS file copy {r['os_copy_mb_s']} MB/s (ratio {r['ratio_vs_os_copy']}); "
                f"HTTP ceiling (uvicorn body read + sha256, nothing stored) "
                f"{r['http_ceiling_mb_s']} MB/s"
                if r["os_copy_mb_s"]
                else ""
            )
        )
    report = {
        "benchmark": "upload",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "results": results,
        "summary": summary,
    }
    (OUT / "upload.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["goal_met"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
