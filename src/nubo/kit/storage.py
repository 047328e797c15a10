"""Object storage: one interface over obstore for a local folder, memory and S3.

The embedded default is a local folder (``file:///abs/dir`` or a plain directory path);
production uses ``s3://bucket[/prefix]`` with an endpoint and credentials.

Guarantees of :meth:`ObjectStore.put_stream`:

* the body is never held whole in memory: at most one part (``part_size``) is buffered
  in Python, plus what obstore keeps for the parts in flight (``max_concurrency``);
* size and sha256 are computed while streaming; :class:`ObjectTooLarge` is raised as
  soon as the cap is passed;
* ``on_first_bytes`` sees the first bytes (at least :data:`SNIFF_BYTES`, or the whole
  body if smaller) *before anything is written*, so a caller can reject a format by
  raising and nothing is stored;
* on any failure - the cap, a client disconnect, a storage error, or the task being
  cancelled - the partial object is removed (S3 multipart upload aborted, local staging
  file deleted) and the exception re-raised. When the call returns, the object is
  completely written, so a database row may point at it.

Objects are addressed by server-made keys (see :func:`new_key`); user input never
becomes a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote, urlparse

import obstore
from obstore.store import LocalStore, MemoryStore, S3Store

from nubo.kit.errors import NuboError

__all__ = [
    "SNIFF_BYTES",
    "NotSupported",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "StorageError",
    "StorageUnavailable",
    "StoredObject",
    "discard",
    "new_key",
]

log = logging.getLogger("nubo.storage")

KiB: Final = 1024
MiB: Final = 1024 * KiB

SNIFF_BYTES: Final = 8 * KiB
"""Minimum number of leading bytes given to ``on_first_bytes`` (unless the body is smaller)."""

DEFAULT_PART_SIZE: Final = 8 * MiB
"""Multipart part size; S3 needs at least 5 MiB for every part but the last."""

_MIN_PART_SIZE: Final = 5 * MiB
_FEED_BATCH: Final = 1 * MiB  # small request chunks are batched before crossing into obstore
_ABORT_TIMEOUT_S: Final = 30.0
_PING_KEY: Final = "nubo-ping/probe"

_KEY_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._=+-]*(?:/[A-Za-z0-9_][A-Za-z0-9._=+-]*)*")


# --------------------------------------------------------------------------- errors


class StorageError(NuboError):
    """Base class of every storage error, answered by the app's one error handler.

    ``str(exc)`` keeps the cause for the logs; ``detail`` (the answer) says only what a
    client may know.
    """

    status, code, title = 503, "storage-error", "Service unavailable"
    public_detail: str | None = "object storage failed; try again later"

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        super().__init__(self.public_detail or message, **kw)
        self.args = (message or self.detail,)


class StorageUnavailable(StorageError):
    """The object store cannot be reached or refused the operation (answer 503)."""

    code = "storage-unavailable"
    public_detail = "object storage is unavailable; try again later"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": "30"})


class ObjectTooLarge(StorageError):
    """The body passed the size cap (answer 413)."""

    status, code, title = 413, "payload-too-large", "Payload too large"
    public_detail = None

    def __init__(self, max_bytes: int, message: str | None = None) -> None:
        self.max_bytes = max_bytes
        super().__init__(
            message or f"body exceeds the limit of {max_bytes} bytes", max_bytes=max_bytes
        )


class ObjectNotFound(StorageError):
    """No object at this key (answer 404)."""

    status, code, title = 404, "not-found", "Not found"
    public_detail = "object not found"

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no object at key {key!r}")


class NotSupported(StorageError):
    """The operation is not supported by this backend (e.g. presigned URLs on a folder)."""

    status, code, title = 501, "not-supported", "Not implemented"
    public_detail = None


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A completely written object."""

    key: str
    size: int
    sha256: str  # lowercase hex


def new_key(prefix: str, suffix: str = "") -> str:
    """A fresh server-made key: ``{prefix}/{uuid4 hex}{suffix}`` (e.g. ``suffix=".csv.gz"``)."""
    key = f"{prefix.strip('/')}/{uuid.uuid4().hex}{suffix}" if prefix else uuid.uuid4().hex + suffix
    _check_key(key)
    return key


def check_key(key: str) -> None:
    """Raise ValueError unless ``key`` is a key this store writes (see the module doc)."""
    _check_key(key)


def _check_key(key: str) -> None:
    if len(key) > 1024 or not _KEY_RE.fullmatch(key):
        raise ValueError(
            f"invalid object key {key!r}: use '/'-separated segments of [A-Za-z0-9._=+-] "
            "that do not start with '.'"
        )


Kind = Literal["local", "memory", "s3"]

_EOF: Final = object()
_ABORT: Final = object()


class _Aborted(Exception):
    """Raised inside the feeder to make obstore abort a multipart upload."""


class _PutFailed(Exception):
    """The background put ended before the stream did."""


# --------------------------------------------------------------------------- store


class ObjectStore:
    """Async object store over obstore. Build it with :meth:`from_url`."""

    def __init__(
        self,
        store: Any,
        *,
        kind: Kind,
        root: Path | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_concurrency: int = 2,
        ping_timeout_s: float = 5.0,
    ) -> None:
        if part_size < _MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {_MIN_PART_SIZE} bytes")
        self._store = store
        self.kind: Kind = kind
        self.root = root
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self.ping_timeout_s = ping_timeout_s
        self._background: set[asyncio.Future[Any]] = set()

    def __repr__(self) -> str:
        where = f" root={self.root}" if self.root else ""
        return f"<ObjectStore {self.kind}{where}>"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        allow_http: bool = False,
        connect_timeout_s: float = 5.0,
        request_timeout_s: float = 120.0,
        max_retries: int = 3,
        part_size: int = DEFAULT_PART_SIZE,
        max_concurrency: int = 2,
    ) -> ObjectStore:
        """Build a store from a URL.

        * ``file:///abs/dir`` or a plain directory path: a local folder (created if missing);
        * ``memory://``: in memory (tests);
        * ``s3://bucket[/prefix]``: S3 or any S3-compatible service at ``endpoint``.
          Credentials left ``None`` fall back to the usual AWS environment/instance chain;
          ``allow_http=True`` is needed for an ``http://`` endpoint (MinIO, moto).

        ``request_timeout_s`` bounds one request (e.g. one part), ``max_retries`` the retries
        of a failed request; :meth:`ping` answers within about ``connect_timeout_s``.
        Memory per streaming upload is about ``part_size * (max_concurrency + 1)``.
        """
        if url.startswith("memory://"):
            return cls(
                MemoryStore(), kind="memory", part_size=part_size, max_concurrency=max_concurrency
            )
        if url.startswith(("s3://", "s3a://")):
            config: dict[str, Any] = {}
            for name, value in (
                ("endpoint", endpoint),
                ("region", region),
                ("access_key_id", access_key_id),
                ("secret_access_key", secret_access_key),
            ):
                if value:
                    config[name] = value
            s3 = S3Store.from_url(
                url,
                config=config,  # type: ignore[arg-type]
                client_options={
                    "allow_http": allow_http,
                    "connect_timeout": timedelta(seconds=connect_timeout_s),
                    "timeout": timedelta(seconds=request_timeout_s),
                },
                retry_config={
                    "max_retries": max_retries,
                    "retry_timeout": timedelta(seconds=max(request_timeout_s, 1.0)),
                    "backoff": {
                        "init_backoff": timedelta(milliseconds=100),
                        "max_backoff": timedelta(seconds=2),
                        "base": 2,
                    },
                },
            )
            return cls(
                s3,
                kind="s3",
                part_size=part_size,
                max_concurrency=max_concurrency,
                ping_timeout_s=connect_timeout_s + 2,
            )
        if url.startswith("file://"):
            parsed = urlparse(url)
            if parsed.netloc not in ("", "localhost"):
                raise ValueError(f"file URL must be local: {url!r}")
            root = Path(unquote(parsed.path))
        elif "://" in url:
            raise ValueError(f"unsupported storage URL scheme: {url!r}")
        else:
            root = Path(url).expanduser()
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(
            LocalStore(root),
            kind="local",
            root=root,
            part_size=part_size,
            max_concurrency=max_concurrency,
        )

    # ----------------------------------------------------------------- writes

    async def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store a small body in one request (atomic on every backend)."""
        _check_key(key)
        await self._put_whole(key, data)
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest())

    def put_bytes_blocking(self, key: str, data: bytes) -> None:
        """`put_bytes` from a worker thread, never the event loop: one request, waited for
        in the thread, and no digest (a job's derived objects keep none)."""
        _check_key(key)
        try:
            obstore.put(self._store, key, data, use_multipart=False)
        except Exception as exc:
            raise self._map(exc, key) from exc

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int,
        on_first_bytes: Callable[[bytes], None] | None = None,
    ) -> StoredObject:
        """Stream ``chunks`` to ``key``; see the module docstring for the guarantees.

        Raises :class:`ObjectTooLarge` once more than ``max_bytes`` arrived,
        :class:`StorageUnavailable` if the store fails, and re-raises whatever the
        source or ``on_first_bytes`` raised (e.g. ``ClientDisconnect``) - in every case
        after removing what was partially written.
        """
        _check_key(key)
        hasher = hashlib.sha256()
        size = 0
        source = aiter(chunks)

        def take(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > max_bytes:
                raise ObjectTooLarge(max_bytes)
            hasher.update(chunk)

        # 1. Sniff: nothing is written before on_first_bytes accepted the head.
        buf = bytearray()
        eof = False
        while len(buf) < SNIFF_BYTES:
            chunk = await anext(source, None)
            if chunk is None:
                eof = True
                break
            take(chunk)
            buf += chunk
        if on_first_bytes is not None:
            on_first_bytes(bytes(buf))

        # 2. Buffer up to one part: a small body goes up in one atomic request.
        while not eof and len(buf) < self.part_size:
            chunk = await anext(source, None)
            if chunk is None:
                eof = True
                break
            take(chunk)
            buf += chunk
        if eof:
            await self._put_whole(key, bytes(buf))
            return StoredObject(key, size, hasher.hexdigest())

        # 3. Multipart: obstore consumes a bounded queue fed from this task, so reading
        #    the source, the cap and cancellation all stay here, and an abort is always a
        #    clean "the iterator raised" for obstore (which then aborts the upload).
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=2)
        put_task: asyncio.Future[Any] = asyncio.ensure_future(
            obstore.put_async(
                self._store,
                key,
                _feed(queue),
                use_multipart=True,
                chunk_size=self.part_size,
                max_concurrency=self.max_concurrency,
            )
        )
        try:
            await _send(queue, buf, put_task)
            del buf
            batch = bytearray()
            async for chunk in source:
                take(chunk)
                batch += chunk
                if len(batch) >= _FEED_BATCH:
                    await _send(queue, batch, put_task)
                    batch = bytearray()
            if batch:
                await _send(queue, batch, put_task)
            await _send(queue, _EOF, put_task)
            await put_task
        except BaseException as exc:
            await self._abandon(key, queue, put_task)
            failure = _exception(put_task)
            if isinstance(exc, _PutFailed) or (failure is not None and exc is failure):
                cause = failure or exc
                raise self._map(cause, key) from cause
            raise
        return StoredObject(key, size, hasher.hexdigest())

    async def _put_whole(self, key: str, data: bytes) -> None:
        task: asyncio.Future[Any] = asyncio.ensure_future(
            obstore.put_async(self._store, key, data, use_multipart=False)
        )
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # A single PUT cannot be aborted: let it finish, then remove what it wrote.
            await self._settle(key, task)
            raise
        except Exception as exc:
            raise self._map(exc, key) from exc

    async def _abandon(
        self, key: str, queue: asyncio.Queue[object], put_task: asyncio.Future[Any]
    ) -> None:
        """Make obstore abort the multipart upload and wait (bounded) until it did."""
        if not put_task.done():
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(_ABORT)
        await self._settle(key, put_task)

    async def _settle(self, key: str, task: asyncio.Future[Any]) -> None:
        """Wait (bounded, shielded) for an abandoned write to end; remove the object if the
        write succeeded anyway. If we are cancelled again meanwhile, or the write is still
        running after the timeout, the removal happens in the background when it ends.
        """

        def cleanup(done: asyncio.Future[Any]) -> None:
            if not done.cancelled() and done.exception() is None:
                background = asyncio.ensure_future(self.delete(key))
                self._background.add(background)
                background.add_done_callback(_forget(self._background))

        cancelled = False
        if not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), _ABORT_TIMEOUT_S)
            except asyncio.CancelledError:
                cancelled = True
            except BaseException:
                pass
        if task.done():
            if not task.cancelled() and task.exception() is None:
                try:
                    await asyncio.shield(self.delete(key))
                except asyncio.CancelledError:
                    cancelled = True
                except Exception:
                    cleanup(task)  # one more try in the background
        else:
            task.add_done_callback(cleanup)
        if cancelled:
            raise asyncio.CancelledError

    # ----------------------------------------------------------------- reads

    async def get_stream(self, key: str, *, chunk_size: int = 1 * MiB) -> AsyncIterator[bytes]:
        """Open ``key`` for streaming: ``async for chunk in await store.get_stream(key)``.

        Awaiting raises :class:`ObjectNotFound` before any byte is produced, so an endpoint
        can answer 404 before starting a streaming response.
        """
        _check_key(key)
        try:
            result = await obstore.get_async(self._store, key)
        except Exception as exc:
            raise self._map(exc, key) from exc
        return self._iter_result(key, result, chunk_size)

    async def _iter_result(self, key: str, result: Any, chunk_size: int) -> AsyncIterator[bytes]:
        stream = result.stream(min_chunk_size=chunk_size)
        while True:
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:
                raise self._map(exc, key) from exc
            yield bytes(chunk)

    async def read_head(self, key: str, n: int = SNIFF_BYTES) -> bytes:
        """The first ``n`` bytes of an object (fewer if it is smaller), e.g. to sniff a format."""
        size = await self.head(key)
        if size is None:
            raise ObjectNotFound(key)
        if size == 0 or n <= 0:
            return b""
        try:
            data = await obstore.get_range_async(self._store, key, start=0, length=min(n, size))
        except Exception as exc:
            raise self._map(exc, key) from exc
        return bytes(data)

    async def download_to(self, key: str, path: str | os.PathLike[str]) -> int:
        """Stream ``key`` into the file ``path`` (written aside, then renamed); return its size."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        stream = await self.get_stream(key)
        size = 0
        fh = await asyncio.to_thread(open, tmp, "wb")
        try:
            try:
                async for chunk in stream:
                    await asyncio.to_thread(fh.write, chunk)
                    size += len(chunk)
            finally:
                await asyncio.to_thread(fh.close)
            await asyncio.to_thread(os.replace, tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return size

    async def hash_object(self, key: str) -> StoredObject:
        """Read an object back and compute its size and sha256 (e.g. after a presigned upload)."""
        hasher = hashlib.sha256()
        size = 0
        async for chunk in await self.get_stream(key):
            hasher.update(chunk)
            size += len(chunk)
        return StoredObject(key, size, hasher.hexdigest())

    async def head(self, key: str) -> int | None:
        """Size of the object at ``key``, or ``None`` if there is none."""
        _check_key(key)
        try:
            meta = await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self._map(exc, key) from exc
        return int(meta["size"])

    @property
    def s3(self) -> S3Store:
        """The obstore S3 store underneath (for S3-only features such as presigned parts)."""
        if not isinstance(self._store, S3Store):
            raise NotSupported(f"this store is {self.kind!r}, not S3")
        return self._store

    async def list_keys(self, prefix: str) -> AsyncIterator[str]:
        """Every key under ``prefix`` (a folder-like prefix, no trailing slash needed)."""
        try:
            async for batch in obstore.list(self._store, prefix=prefix):
                for meta in batch:
                    yield str(meta["path"])
        except Exception as exc:
            raise self._map(exc, prefix) from exc

    async def list_objects(self, prefix: str) -> AsyncIterator[tuple[str, datetime]]:
        """(key, last modified) of every object under ``prefix``."""
        try:
            async for batch in obstore.list(self._store, prefix=prefix):
                for meta in batch:
                    yield str(meta["path"]), meta["last_modified"]
        except Exception as exc:
            raise self._map(exc, prefix) from exc

    # ----------------------------------------------------------------- other

    async def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing object is not an error."""
        _check_key(key)
        try:
            await obstore.delete_async(self._store, key)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._map(exc, key) from exc

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the store answers (for ``/ready``)."""
        if self.kind == "memory":
            return
        if self.kind == "local":
            root = self.root
            if root is None or not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
                raise StorageUnavailable(f"storage folder is missing or not writable: {root}")
            return
        try:
            await asyncio.wait_for(obstore.head_async(self._store, _PING_KEY), self.ping_timeout_s)
        except FileNotFoundError:
            return  # the bucket answered
        except TimeoutError as exc:
            raise StorageUnavailable("object storage did not answer in time") from exc
        except Exception as exc:
            raise self._map(exc, _PING_KEY) from exc

    async def presign_put(self, key: str, expires_s: int = 3600) -> str:
        """A presigned URL to ``PUT`` one object (S3 only; up to 5 GiB in one request).

        Raises :class:`NotSupported` on a local folder or in memory: the caller then falls
        back to a streaming upload through the API. After the client's PUT, verify with
        :meth:`head` / :meth:`read_head` / :meth:`hash_object` before recording the file.
        """
        return await self._presign("PUT", key, expires_s)

    async def presign_get(self, key: str, expires_s: int = 3600) -> str:
        """A presigned download URL (S3 only; :class:`NotSupported` otherwise)."""
        return await self._presign("GET", key, expires_s)

    async def _presign(self, method: Literal["GET", "PUT"], key: str, expires_s: int) -> str:
        _check_key(key)
        if self.kind != "s3":
            raise NotSupported(f"presigned URLs need S3; this store is {self.kind!r}")
        try:
            return await obstore.sign_async(self._store, method, key, timedelta(seconds=expires_s))
        except Exception as exc:
            raise self._map(exc, key) from exc

    def _map(self, exc: BaseException, key: str) -> BaseException:
        if isinstance(exc, FileNotFoundError):
            return ObjectNotFound(key)
        if isinstance(exc, StorageError):
            return exc
        if isinstance(exc, ValueError) and not isinstance(exc, obstore.exceptions.BaseError):
            return exc
        if isinstance(exc, (obstore.exceptions.BaseError, OSError, TimeoutError)):
            return StorageUnavailable(f"object storage ({self.kind}) failed: {type(exc).__name__}")
        return exc


async def discard(store: ObjectStore, key: str) -> None:
    """Delete an object nothing will point at, best effort: a failure is logged (an
    owner's orphan sweep removes it later)."""
    try:
        await store.delete(key)
    except Exception:
        log.warning("could not delete orphan object %s", key, exc_info=True)


# --------------------------------------------------------------------------- feeding


async def _feed(queue: asyncio.Queue[object]) -> AsyncIterator[bytes | bytearray]:
    while True:
        item = await queue.get()
        if item is _EOF:
            return
        if item is _ABORT:
            raise _Aborted("upload abandoned")
        assert isinstance(item, (bytes, bytearray))
        yield item


async def _send(queue: asyncio.Queue[object], item: object, put_task: asyncio.Future[Any]) -> None:
    """Put ``item`` on the queue unless the consumer (the obstore put) has died."""
    if put_task.done():
        raise _PutFailed
    if not queue.full():
        queue.put_nowait(item)
        return
    putter = asyncio.ensure_future(queue.put(item))
    try:
        await asyncio.wait({putter, put_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not putter.done():
            putter.cancel()
    if not putter.done() or putter.cancelled():
        raise _PutFailed


def _forget(tasks: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    def done(task: asyncio.Future[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed background delete is not an error

    return done


def _exception(task: asyncio.Future[Any]) -> BaseException | None:
    if not task.done() or task.cancelled():
        return None
    return task.exception()
