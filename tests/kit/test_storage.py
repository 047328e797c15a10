"""Specification of nubo.kit.storage, run against a local folder and S3 (moto server)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from starlette.requests import ClientDisconnect

from nubo.kit.storage import (
    SNIFF_BYTES,
    NotSupported,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StorageUnavailable,
    new_key,
)

pytest_plugins = ("tests.fixtures.s3",)

KiB = 1024
MiB = 1024 * KiB


@dataclass
class Case:
    """A store under test plus a way to see *everything* it holds, hidden leftovers included."""

    store: ObjectStore
    list_all: Callable[[], list[str]]


@pytest.fixture(params=["local", "s3"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    if request.param == "local":
        root = tmp_path / "objects"
        store = ObjectStore.from_url(root.as_uri())

        def list_local() -> list[str]:
            # every file, including obstore's staging files of unfinished uploads
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

        return Case(store, list_local)
    server = request.getfixturevalue("s3_server")
    url = request.getfixturevalue("s3_url")
    prefix = url.split("/", 3)[3] + "/"
    store = ObjectStore.from_url(url, **server.store_kwargs())

    def list_s3() -> list[str]:
        keys = [k.removeprefix(prefix) for k in server.list_keys(prefix)]
        uploads = [
            f"multipart:{k.removeprefix(prefix)}" for k in server.list_multipart_uploads(prefix)
        ]
        return sorted(keys + uploads)

    return Case(store, list_s3)


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * (64 * KiB // 32)
    return (block * (size // len(block) + 1))[:size]


class Source:
    """An async byte source that records how much was pulled from it."""

    def __init__(self, data: bytes, chunk: int = 64 * KiB) -> None:
        self.data = data
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), self.chunk):
            piece = self.data[i : i + self.chunk]
            self.pulled += len(piece)
            yield piece
            await asyncio.sleep(0)


async def read_all(store: ObjectStore, key: str) -> bytes:
    return b"".join([c async for c in await store.get_stream(key)])


# --------------------------------------------------------------------------- put_stream


@pytest.mark.parametrize("size", [0, 100, SNIFF_BYTES + 1, 3 * MiB])
async def test_put_stream_roundtrip_reports_size_and_sha256(case: Case, size: int) -> None:
    data = pattern(size)
    key = new_key("flights", ".csv")
    stored = await case.store.put_stream(key, Source(data), max_bytes=10 * MiB)
    assert (stored.key, stored.size, stored.sha256) == (key, size, hashlib.sha256(data).hexdigest())
    assert await case.store.head(key) == size
    assert await read_all(case.store, key) == data
    assert case.list_all() == [key]


async def test_large_stream_goes_up_in_parts_and_roundtrips(
    case: Case, request: pytest.FixtureRequest
) -> None:
    data = pattern(21 * MiB + 123, seed=1)
    key = new_key("flights", ".parquet")
    stored = await case.store.put_stream(key, Source(data, chunk=256 * KiB), max_bytes=64 * MiB)
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(case.store, key) == data
    assert case.list_all() == [key]
    if case.store.kind == "s3":
        server = request.getfixturevalue("s3_server")
        url = request.getfixturevalue("s3_url")
        full_key = url.split("/", 3)[3] + "/" + key
        etag = server.boto3_client().head_object(Bucket=server.bucket, Key=full_key)["ETag"]
        assert etag.strip('"').endswith("-3"), etag  # 8 MiB parts: 8 + 8 + 5


@pytest.mark.parametrize(
    ("max_bytes", "size"),
    [(100 * KiB, 300 * KiB), (4 * MiB, 6 * MiB), (10 * MiB, 30 * MiB)],
    ids=["in-sniff-buffer", "in-first-part", "mid-multipart"],
)
async def test_put_stream_over_cap_raises_and_leaves_no_object(
    case: Case, max_bytes: int, size: int
) -> None:
    source = Source(pattern(size), chunk=64 * KiB)
    key = new_key("flights")
    with pytest.raises(ObjectTooLarge) as info:
        await case.store.put_stream(key, source, max_bytes=max_bytes)
    assert info.value.max_bytes == max_bytes
    # raised as soon as the cap was passed: not one chunk more was pulled
    assert source.pulled <= max_bytes + source.chunk
    assert await case.store.head(key) is None
    assert case.list_all() == []


async def test_body_of_exactly_max_bytes_is_accepted(case: Case) -> None:
    data = pattern(9 * MiB)
    stored = await case.store.put_stream(new_key("f"), Source(data), max_bytes=len(data))
    assert stored.size == len(data)


async def test_client_disconnect_mid_stream_removes_partial_object(case: Case) -> None:
    async def disconnecting() -> AsyncIterator[bytes]:
        for _ in range(12 * 4):  # 12 MiB: at least one part is already uploaded
            yield b"x" * (256 * KiB)
        raise ClientDisconnect()

    key = new_key("flights")
    with pytest.raises(ClientDisconnect):
        await case.store.put_stream(key, disconnecting(), max_bytes=100 * MiB)
    assert await case.store.head(key) is None
    assert case.list_all() == []


@pytest.mark.parametrize("after", [1 * MiB, 12 * MiB], ids=["before-first-part", "multipart"])
async def test_cancelled_upload_removes_partial_object(case: Case, after: int) -> None:
    reached = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        for _ in range(after // (256 * KiB)):
            yield b"y" * (256 * KiB)
        reached.set()
        await asyncio.Event().wait()  # the client stalls; the request task gets cancelled
        yield b""

    key = new_key("flights")
    task = asyncio.create_task(case.store.put_stream(key, stalling(), max_bytes=100 * MiB))
    await asyncio.wait_for(reached.wait(), 10)
    await asyncio.sleep(0.2)  # let the first part go up
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await case.store.head(key) is None
    assert case.list_all() == []


async def test_rejecting_first_bytes_stores_nothing(case: Case) -> None:
    seen: list[bytes] = []

    def reject(head: bytes) -> None:
        seen.append(head)
        raise ValueError("not a flight data file")

    source = Source(pattern(20 * MiB), chunk=4 * KiB)
    key = new_key("flights")
    with pytest.raises(ValueError, match="not a flight data file"):
        await case.store.put_stream(key, source, max_bytes=100 * MiB, on_first_bytes=reject)
    assert len(seen) == 1 and len(seen[0]) >= SNIFF_BYTES
    assert seen[0] == source.data[: len(seen[0])]
    assert source.pulled == len(seen[0])  # decided on the head alone
    assert case.list_all() == []


async def test_first_bytes_of_a_small_body_is_the_whole_body(case: Case) -> None:
    seen: list[bytes] = []
    await case.store.put_stream(
        new_key("f"), Source(b"a,b\n1,2\n"), max_bytes=MiB, on_first_bytes=seen.append
    )
    assert seen == [b"a,b\n1,2\n"]


# --------------------------------------------------------------------------- reads and others


async def test_missing_objects(case: Case) -> None:
    key = new_key("nothing")
    assert await case.store.head(key) is None
    with pytest.raises(ObjectNotFound):
        await case.store.get_stream(key)
    with pytest.raises(ObjectNotFound):
        await case.store.read_head(key)
    await case.store.delete(key)  # idempotent
    await case.store.delete(key)


async def test_put_bytes_read_head_hash_and_delete(case: Case) -> None:
    data = pattern(20 * KiB, seed=3)
    key = new_key("blobs", ".bin")
    stored = await case.store.put_bytes(key, data)
    assert await case.store.read_head(key) == data[:SNIFF_BYTES]
    assert await case.store.read_head(key, 10**9) == data
    assert await case.store.hash_object(key) == stored
    await case.store.delete(key)
    assert await case.store.head(key) is None
    assert case.list_all() == []


async def test_download_to_streams_into_a_file(case: Case, tmp_path: Path) -> None:
    data = pattern(3 * MiB + 7, seed=4)
    key = new_key("blobs")
    await case.store.put_bytes(key, data)
    target = tmp_path / "downloaded.bin"
    assert await case.store.download_to(key, target) == len(data)
    assert target.read_bytes() == data
    names = await asyncio.to_thread(lambda: [p.name for p in tmp_path.iterdir() if p.is_file()])
    assert names == ["downloaded.bin"]


async def test_ping_answers_when_the_store_is_up(case: Case) -> None:
    await case.store.ping()


async def test_presign_put_lets_a_client_upload_directly(case: Case) -> None:
    key = new_key("direct", ".csv.gz")
    if case.store.kind != "s3":
        with pytest.raises(NotSupported):
            await case.store.presign_put(key, 600)
        return
    url = await case.store.presign_put(key, 600)
    body = pattern(100 * KiB, seed=5)
    async with httpx.AsyncClient() as client:
        assert (await client.put(url, content=body)).status_code == 200
        got = await client.get(await case.store.presign_get(key, 600))
    assert got.content == body
    verified = await case.store.hash_object(key)
    assert (verified.size, verified.sha256) == (len(body), hashlib.sha256(body).hexdigest())


# --------------------------------------------------------------------------- failures


def dead_s3_store() -> ObjectStore:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return ObjectStore.from_url(
        "s3://nowhere/x",
        endpoint=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="k",
        secret_access_key="s",
        allow_http=True,
        connect_timeout_s=1,
        request_timeout_s=2,
        max_retries=0,
    )


async def test_put_bytes_blocking_from_a_thread_stores_the_body(case: Case) -> None:
    data = pattern(200 * KiB, seed=4)
    key = new_key("blobs", ".bin")
    await asyncio.to_thread(case.store.put_bytes_blocking, key, data)
    assert await case.store.read_head(key, 10**9) == data
    await case.store.delete(key)


async def test_put_bytes_blocking_on_a_store_that_is_down_is_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable):
        await asyncio.to_thread(dead_s3_store().put_bytes_blocking, new_key("k"), b"x")


async def test_storage_down_is_storage_unavailable() -> None:
    store = dead_s3_store()
    start = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await store.ping()
    with pytest.raises(StorageUnavailable):
        await store.head(new_key("k"))
    with pytest.raises(StorageUnavailable):
        await store.put_stream(new_key("k"), Source(pattern(100)), max_bytes=MiB)
    with pytest.raises(StorageUnavailable):
        await store.put_stream(new_key("k"), Source(pattern(20 * MiB)), max_bytes=100 * MiB)
    assert time.monotonic() - start < 20


async def test_local_ping_fails_when_the_folder_is_gone(tmp_path: Path) -> None:
    store = ObjectStore.from_url(str(tmp_path / "gone"))
    (tmp_path / "gone").rmdir()
    with pytest.raises(StorageUnavailable):
        await store.ping()


# --------------------------------------------------------------------------- construction, keys


def test_from_url_builds_each_backend(tmp_path: Path) -> None:
    plain = ObjectStore.from_url(str(tmp_path / "a" / "b"))
    assert plain.kind == "local" and (tmp_path / "a" / "b").is_dir()
    as_url = ObjectStore.from_url((tmp_path / "c").as_uri())
    assert as_url.kind == "local" and as_url.root == (tmp_path / "c").resolve()
    assert ObjectStore.from_url("memory://").kind == "memory"
    assert ObjectStore.from_url("s3://bucket/prefix", region="eu-west-1").kind == "s3"
    with pytest.raises(ValueError, match="unsupported"):
        ObjectStore.from_url("ftp://example.org/x")


@pytest.mark.parametrize(
    "key", ["", "../etc/passwd", "/abs", "a//b", "a/../b", ".hidden", "a/.git", "a b", "a\\b"]
)
async def test_unsafe_keys_are_refused(key: str) -> None:
    store = ObjectStore.from_url("memory://")
    with pytest.raises(ValueError, match="invalid object key"):
        await store.put_bytes(key, b"x")


def test_new_key_is_unique_and_valid() -> None:
    a, b = new_key("flights/account=7", ".csv.gz"), new_key("flights/account=7", ".csv.gz")
    assert a != b and a.startswith("flights/account=7/") and a.endswith(".csv.gz")


async def test_memory_store_roundtrip() -> None:
    store = ObjectStore.from_url("memory://")
    stored = await store.put_stream("a/b", Source(pattern(9 * MiB)), max_bytes=10 * MiB)
    assert await store.head("a/b") == stored.size
    await store.ping()


# --------------------------------------------------------------------------- memory bound


async def test_streaming_200_mib_keeps_memory_bounded(tmp_path: Path) -> None:
    """The body is never held whole: Python allocations and RSS stay far below its size."""
    total = 200 * MiB
    block = pattern(64 * KiB, seed=9)
    expected = hashlib.sha256()
    for _ in range(total // len(block)):
        expected.update(block)
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak_rss = baseline

    async def generated() -> AsyncIterator[bytes]:
        nonlocal peak_rss
        for i in range(total // len(block)):
            if i % 64 == 0:
                peak_rss = max(peak_rss, process.memory_info().rss)
            yield block

    store = ObjectStore.from_url(str(tmp_path / "objects"))
    tracemalloc.start()
    try:
        stored = await store.put_stream("big/one", generated(), max_bytes=total)
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    peak_rss = max(peak_rss, process.memory_info().rss)
    assert stored.size == total and stored.sha256 == expected.hexdigest()
    assert await store.head("big/one") == total
    assert traced_peak < 32 * MiB, f"python peak {traced_peak / MiB:.1f} MiB"
    assert peak_rss - baseline < 64 * MiB, f"RSS grew {(peak_rss - baseline) / MiB:.1f} MiB"


def test_s3_fixture_fails_instead_of_skipping_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures import s3

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        s3._unavailable("cannot start")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        s3._unavailable("cannot start")


async def test_storage_dying_mid_upload_is_storage_unavailable() -> None:
    """A dedicated S3 server is killed after the first part: 503, and no hang."""
    from tests.fixtures import s3

    try:
        proc, port = s3._start_moto()
    except Exception as exc:
        s3._unavailable(str(exc))
    server = s3.S3Server(endpoint=f"http://127.0.0.1:{port}")
    try:
        server.boto3_client().create_bucket(Bucket=server.bucket)
        store = ObjectStore.from_url(
            f"s3://{server.bucket}",
            **{**server.store_kwargs(), "request_timeout_s": 3, "max_retries": 0},
        )

        async def body() -> AsyncIterator[bytes]:
            for i in range(30 * 4):
                if i == 10 * 4:
                    proc.kill()
                yield b"z" * (256 * KiB)
                await asyncio.sleep(0)

        start = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await store.put_stream(new_key("k"), body(), max_bytes=100 * MiB)
        assert time.monotonic() - start < 20
    finally:
        proc.kill()
        proc.wait(timeout=10)
