"""Direct uploads to S3 with presigned URLs: the API hands out the URL(s) for a server-made
key, the client uploads the file there, and `upload-complete` verifies the object (size cap,
format from its bytes, sha256 computed by reading it back) before the flight points at it.

Two kinds of grant:

* a single presigned `PUT` (up to 5 GiB), the default;
* a presigned *multipart* upload when the declared `size` is above
  :data:`MULTIPART_THRESHOLD` (or `multipart: true`): the server creates the S3 multipart
  upload, hands out one presigned UploadPart URL per part, and `upload-complete` takes the
  parts' ETags, checks them against what S3 holds (a part left out would otherwise be
  silently dropped by S3), completes the upload, then verifies like a single PUT.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.bleed.sniff import detect_format
from nubo.flights import grants
from nubo.flights.schemas import (
    PartIn,
    UploadUrlIn,
)
from nubo.kit.db import after_rollback
from nubo.kit.errors import Conflict, NuboError, PayloadTooLarge, UnsupportedMediaType
from nubo.kit.s3_multipart import (
    MAX_PARTS,
    InvalidParts,
    S3Multipart,
    UploadedPart,
    UploadNotFound,
    normalize_etag,
)
from nubo.kit.storage import NotSupported, ObjectStore, StoredObject, discard

log = logging.getLogger("nubo.flights.direct")

MiB: Final = 1024 * 1024
MULTIPART_THRESHOLD: Final = 64 * MiB
"""A declared `size` above this gets a multipart grant (unless `multipart: false`)."""
DEFAULT_PART_SIZE: Final = 16 * MiB
"""Part size when the client names none (grown, in whole MiB, to stay within 10,000 parts)."""

_background: set[asyncio.Future[Any]] = set()


class PresignUnsupported(NuboError):
    status, code, title = 501, "presigned-upload-unsupported", "Not implemented"


def _unsupported() -> PresignUnsupported:
    return PresignUnsupported(
        "this server stores files locally; upload through POST /api/flight/{id}/upload"
    )


def wants_multipart(data: UploadUrlIn | None) -> bool:
    if data is None or data.size is None:
        return False
    if data.multipart is not None:
        return data.multipart
    return data.size > MULTIPART_THRESHOLD


def plan_parts(size: int, part_size: int | None) -> tuple[int, int]:
    """(part size, number of parts) for an object of `size` bytes."""
    if part_size is None:
        part_size = max(DEFAULT_PART_SIZE, math.ceil(size / MAX_PARTS / MiB) * MiB)
    return part_size, max(1, math.ceil(size / part_size))


def unsupported_format() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "the file is not CSV, gzip-compressed CSV or Parquet (detected from its bytes)",
        code="unsupported-file-format",
    )


def too_large(cap: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the file exceeds the limit of {cap} bytes", max_bytes=cap)


async def presign_single(store: ObjectStore, key: str, ttl: int) -> str:
    try:
        return await store.presign_put(key, ttl)
    except NotSupported as exc:
        raise _unsupported() from exc


async def open_multipart(
    session: AsyncSession, store: ObjectStore, key: str, data: UploadUrlIn, ttl: int
) -> tuple[str, int, list[str]]:
    """Create the S3 multipart upload and presign its parts: (upload id, part size, URLs).
    The upload is aborted unless `session`'s unit of work commits."""
    try:
        mp = await S3Multipart.for_store(store)
    except NotSupported as exc:
        raise _unsupported() from exc
    assert data.size is not None
    part_size, count = plan_parts(data.size, data.part_size)
    upload_id = await _create(mp, key)
    after_rollback(session, lambda: _abort_shielded(mp, key, upload_id))
    urls = await mp.presign_parts(key, upload_id, range(1, count + 1), ttl)
    return upload_id, part_size, urls


async def _create(mp: S3Multipart, key: str) -> str:
    """Create the multipart upload; if we are cancelled meanwhile, abort it once created."""
    task = asyncio.ensure_future(mp.create(key))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:

        def abort_later(done: asyncio.Future[str]) -> None:
            if not done.cancelled() and done.exception() is None:
                _in_background(mp.abort(key, done.result()))

        task.add_done_callback(abort_later)
        raise


def _in_background(coro: Any) -> None:
    fut = asyncio.ensure_future(coro)
    _background.add(fut)

    def forget(done: asyncio.Future[Any]) -> None:
        _background.discard(done)
        if not done.cancelled() and done.exception() is not None:
            log.warning("background clean-up of a presigned upload failed: %s", done.exception())

    fut.add_done_callback(forget)


async def _abort_shielded(mp: S3Multipart, key: str, upload_id: str) -> None:
    try:
        await asyncio.shield(mp.abort(key, upload_id))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.warning("could not abort the multipart upload of %s", key, exc_info=True)


def ticket(
    key: str | None, name: str | None, upload_id: str | None, parts: list[PartIn] | None
) -> grants.Pending:
    """The pending grant an `upload-complete` call refers to, or why it cannot."""
    if key is None:
        raise Conflict("no presigned upload is pending for this flight", code="no-pending-upload")
    if upload_id is not None and parts is None:
        raise Conflict(
            "the pending upload is multipart: send its parts' numbers and ETags",
            code="parts-required",
        )
    if upload_id is None and parts is not None:
        raise Conflict("the pending upload is a single PUT: send no parts", code="parts-unexpected")
    return grants.Pending(key, name, upload_id)


async def verify(
    store: ObjectStore, pending: grants.Pending, parts: list[PartIn] | None, cap: int
) -> tuple[StoredObject, str]:
    """Complete a multipart grant, then check the object (size cap, format from its bytes)
    and hash it by reading it back. An object over the cap or of another format is removed."""
    key = pending.key
    if pending.upload_id is not None:
        assert parts is not None
        await _complete_multipart(store, key, pending.upload_id, parts, cap)
    size = await store.head(key)
    if size is None:
        raise Conflict("nothing was uploaded to the presigned URL yet", code="upload-missing")
    if size > cap:
        await discard(store, key)
        raise too_large(cap)
    fmt = detect_format(await store.read_head(key))
    if fmt is None:
        await discard(store, key)
        raise unsupported_format()
    return await store.hash_object(key), fmt


def _gone() -> Conflict:
    return Conflict(
        "the multipart upload is gone (aborted or expired); ask for a new upload URL",
        code="upload-missing",
    )


async def _complete_multipart(
    store: ObjectStore, key: str, upload_id: str, parts: Sequence[PartIn], cap: int
) -> None:
    """Check the client's part list against S3's, then complete the upload.

    A wrong list answers 409 `upload-parts-mismatch` and leaves the upload pending (the
    client may send the right list, or upload a missing part, until the grant expires). Parts
    over the size cap abort the upload (413). If an earlier call completed the upload but did
    not get to record it, the object is verified as it is.
    """
    mp = await S3Multipart.for_store(store)
    try:
        uploaded = await mp.list_parts(key, upload_id)
    except UploadNotFound:
        if await store.head(key) is not None:
            return  # completed by an earlier call; verify the object
        raise _gone() from None
    if not uploaded:
        raise Conflict("no part was uploaded to the presigned URLs yet", code="upload-missing")
    if sum(p.size for p in uploaded) > cap:
        await _abort_shielded(mp, key, upload_id)
        raise too_large(cap)
    problem = _mismatch(parts, uploaded)
    if problem is not None:
        raise Conflict(problem, code="upload-parts-mismatch")
    try:
        await mp.complete(key, upload_id, [(p.part_number, p.etag) for p in parts])
    except InvalidParts as exc:
        raise Conflict(f"S3 refused the part list: {exc}", code="upload-parts-mismatch") from exc
    except UploadNotFound:
        if await store.head(key) is None:
            raise _gone() from None


def _mismatch(parts: Sequence[PartIn], uploaded: Sequence[UploadedPart]) -> str | None:
    """Why the client's list is not exactly the uploaded parts 1..n, or None."""
    sent = {p.part_number: normalize_etag(p.etag) for p in parts}
    held = {p.part_number: p.etag for p in uploaded}
    gaps = sorted(set(range(1, max(sent) + 1)) - set(sent))
    if gaps:
        return f"the part list must number the parts 1..n; missing: {_few(gaps)}"
    left_out = sorted(set(held) - set(sent))
    if left_out:
        return f"uploaded part(s) left out of the list: {_few(left_out)}"
    not_uploaded = sorted(set(sent) - set(held))
    if not_uploaded:
        return f"part(s) not uploaded: {_few(not_uploaded)}"
    wrong = sorted(n for n, etag in sent.items() if held[n] != etag)
    if wrong:
        return f"the ETag does not match the uploaded part for part(s): {_few(wrong)}"
    return None


def _few(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" (+{len(numbers) - 10} more)" if len(numbers) > 10 else "")


BROWSER_DIRECT_FROM: Final = 64 * MiB
"""The upload page sends a file of this size or more straight to S3 (multipart, presigned)
and smaller ones through the server: below it one more request per file costs more than the
server's copy of the bytes; it is also where the API's grants turn multipart."""


async def browser_origin(store: ObjectStore) -> str | None:
    """The origin the browser uploads to (that of the store's presigned URLs), or None when
    the store cannot presign (a local folder). Signing is local: nothing is sent."""
    if store.kind != "s3":
        return None
    parts = urlsplit(await store.presign_put("raw/origin", 60))
    return f"{parts.scheme}://{parts.netloc}"
