"""Upload store: `ObjectStore.put_stream` against plain obstore puts of the same bytes.

A generated body of N MiB (default 256) arrives as 64 KiB chunks, like a request body.
For a local folder and for S3 (a moto server started here on 127.0.0.1) it measures:

- nubo put_stream: sniff hook, sha256 + size while streaming, cap, multipart with abort;
- baseline obstore put_async(async iterator): the same chunks straight into obstore
  (no hashing, no cap, no abort handling) - the ceiling for a streaming upload;
- reference obstore put_async(bytes): the whole body already in memory (not streaming).

Prints MB/s and the ratio put_stream / baseline, and writes bench/out/bench_upload_store.json.
Usage: python bench/bench_upload_store.py [--mib 256] [--repeat 3] [--no-s3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import obstore

from nubo.kit.storage import ObjectStore

CHUNK = 64 * 1024
MiB = 1024 * 1024
OUT = Path(__file__).resolve().parent / "out"


def body_source(total: int) -> Callable[[], AsyncIterator[bytes]]:
    block = os.urandom(MiB)

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            start = sent % MiB
            piece = block[start : start + min(CHUNK, total - sent)]
            sent += len(piece)
            yield piece

    return chunks


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto server did not start")
    import boto3

    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).create_bucket(Bucket="bench")
    return proc, endpoint


async def best_of(repeat: int, run: Callable[[], Awaitable[None]]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await run()
        times.append(time.perf_counter() - start)
    return min(times)


async def measure(name: str, store: ObjectStore, total: int, repeat: int) -> dict[str, Any]:
    chunks = body_source(total)
    raw = store._store  # the obstore store underneath, for the baselines
    whole = b"".join([c async for c in chunks()])

    async def nubo() -> None:
        key = f"bench/{uuid.uuid4().hex}"
        await store.put_stream(key, chunks(), max_bytes=total, on_first_bytes=lambda _: None)
        await store.delete(key)

    async def plain_stream() -> None:
        key = f"bench/{uuid.uuid4().hex}"
        await obstore.put_async(
            raw, key, chunks(), chunk_size=store.part_size, max_concurrency=store.max_concurrency
        )
        await store.delete(key)

    async def plain_bytes() -> None:
        key = f"bench/{uuid.uuid4().hex}"
        await obstore.put_async(raw, key, whole)
        await store.delete(key)

    await nubo()  # warm up
    t_nubo = await best_of(repeat, nubo)
    t_stream = await best_of(repeat, plain_stream)
    t_bytes = await best_of(repeat, plain_bytes)
    mb = total / 1e6
    row = {
        "store": name,
        "mib": total // MiB,
        "put_stream_MBps": round(mb / t_nubo, 1),
        "obstore_stream_MBps": round(mb / t_stream, 1),
        "obstore_bytes_MBps": round(mb / t_bytes, 1),
        "ratio_vs_stream": round(t_stream / t_nubo, 2),
    }
    print(
        f"{name:6} {row['mib']:5} MiB  put_stream {row['put_stream_MBps']:8.1f} MB/s  "
        f"obstore stream {row['obstore_stream_MBps']:8.1f} MB/s  "
        f"obstore bytes {row['obstore_bytes_MBps']:8.1f} MB/s  "
        f"ratio {row['ratio_vs_stream']:.2f}",
        flush=True,
    )
    return row


async def main(args: argparse.Namespace) -> int:
    total = args.mib * MiB
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(await measure("local", ObjectStore.from_url(tmp), total, args.repeat))
    if not args.no_s3:
        proc, endpoint = start_moto()
        try:
            s3 = ObjectStore.from_url(
                "s3://bench",
                endpoint=endpoint,
                region="us-east-1",
                access_key_id="bench",
                secret_access_key="bench",
                allow_http=True,
            )
            rows.append(await measure("s3", s3, min(total, 64 * MiB), args.repeat))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    OUT.mkdir(exist_ok=True)
    summary = [
        f"{r['store']}: put_stream {r['put_stream_MBps']} MB/s = "
        f"{r['ratio_vs_stream']}x plain obstore streaming put"
        for r in rows
    ]
    (OUT / "bench_upload_store.json").write_text(json.dumps({"rows": rows, "summary": summary}))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-s3", action="store_true")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
