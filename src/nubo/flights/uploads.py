"""Streaming a data file from the request to the object store, with every upload rule.

The body goes through `kit.uploads` (raw or multipart, capped) into `ObjectStore.put_stream`
(hashing, cap, abort on failure); the format is sniffed from the first bytes before anything
is written. Storage and body errors become the API's problem+json errors here.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Final

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from nubo.bleed.sniff import detect_format
from nubo.kit.errors import (
    BadRequest,
    NuboError,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from nubo.kit.storage import (
    ObjectStore,
    ObjectTooLarge,
    StorageError,
    StorageUnavailable,
    StoredObject,
    new_key,
)
from nubo.kit.uploads import (
    MultipartStream,
    UnsupportedUpload,
    UploadError,
    request_body,
    sanitize_filename,
)

log = logging.getLogger("nubo.flights.uploads")

FILE_FIELD: Final = "file"
# Room for the text fields and multipart framing on top of the file cap.
FORM_OVERHEAD_BYTES: Final = 1024 * 1024


class ClientGone(NuboError):
    """The client went away mid-upload; nothing was recorded (nobody reads this answer)."""

    status, code, title = 400, "client-disconnected", "Client disconnected"


async def get_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


StoreDep = Annotated[ObjectStore, Depends(get_store)]


def raw_prefix(account_id: uuid.UUID, flight_id: uuid.UUID) -> str:
    return f"raw/account={account_id}/flight={flight_id}"


def new_raw_key(account_id: uuid.UUID, flight_id: uuid.UUID) -> str:
    return new_key(raw_prefix(account_id, flight_id))


@dataclass
class Received:
    stored: StoredObject
    file_format: str
    file_name: str | None
    fields: dict[str, str] = field(default_factory=dict)


def api_error(exc: BaseException) -> BaseException:
    """Storage and body errors as the API's errors; anything else unchanged."""
    if isinstance(exc, NuboError):
        return exc
    if isinstance(exc, ObjectTooLarge):
        return PayloadTooLarge(str(exc), code="payload-too-large", max_bytes=exc.max_bytes)
    if isinstance(exc, StorageUnavailable):
        return ServiceUnavailable(
            "object storage is unavailable; try again later",
            code="storage-unavailable",
            headers={"Retry-After": "30"},
        )
    if isinstance(exc, StorageError):
        return ServiceUnavailable(f"object storage failed: {exc}", code="storage-error")
    if isinstance(exc, UnsupportedUpload):
        return UnsupportedMediaType(str(exc), code="unsupported-media-type")
    if isinstance(exc, UploadError):
        return BadRequest(str(exc), code=exc.code)
    if isinstance(exc, ClientDisconnect):
        return ClientGone()
    return exc


class _Sniffer:
    """`on_first_bytes`: refuse anything but CSV, CSV.gz and Parquet before a byte is stored."""

    def __init__(self) -> None:
        self.format: str | None = None

    def __call__(self, head: bytes) -> None:
        fmt = detect_format(head)
        if fmt is None:
            raise UnsupportedMediaType(
                "the file is not CSV, gzip-compressed CSV or Parquet (detected from its bytes)",
                code="unsupported-file-format",
            )
        self.format = fmt


async def _put(
    store: ObjectStore, key: str, chunks: AsyncIterator[bytes], max_bytes: int
) -> tuple[StoredObject, str]:
    sniff = _Sniffer()
    try:
        stored = await store.put_stream(key, chunks, max_bytes=max_bytes, on_first_bytes=sniff)
    except Exception as exc:
        mapped = api_error(exc)
        if mapped is exc:
            raise
        raise mapped from exc
    assert sniff.format is not None
    return stored, sniff.format


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _disposition_name(request: Request) -> str | None:
    from python_multipart.multipart import parse_options_header

    raw = request.headers.get("content-disposition")
    if not raw:
        return None
    _, params = parse_options_header(raw)
    name = params.get(b"filename")
    return sanitize_filename(name.decode("utf-8", "replace")) if name else None


async def receive_raw(request: Request, store: ObjectStore, key: str, max_bytes: int) -> Received:
    """The request body is the file (`Content-Disposition: attachment; filename=...` names it)."""
    try:
        body = request_body(request, max_bytes)
    except Exception as exc:
        raise api_error(exc) from exc
    stored, fmt = await _put(store, key, body, max_bytes)
    return Received(stored, fmt, _disposition_name(request))


async def receive_form(
    request: Request,
    store: ObjectStore,
    max_bytes: int,
    make_key: Callable[[dict[str, str]], Awaitable[str]],
) -> tuple[dict[str, str], Received | None]:
    """A `multipart/form-data` body with at most one `file` part: (all fields, the file).

    `make_key(fields_before_file)` validates what must be known before storing and returns
    the key. The stored object is removed again if the rest of the form is malformed.
    """
    try:
        form = MultipartStream.from_request(
            request, max_body_bytes=max_bytes + FORM_OVERHEAD_BYTES, file_field=FILE_FIELD
        )
        part = await form.next_file()
    except Exception as exc:
        raise api_error(exc) from exc
    if part is None:
        return dict(form.fields), None
    key = await make_key(dict(form.fields))
    stored, fmt = await _put(store, key, part.chunks, max_bytes)
    try:
        fields = await form.finish()
    except BaseException as exc:
        await discard(store, key)
        mapped = api_error(exc)
        if mapped is exc:
            raise
        raise mapped from exc
    return dict(fields), Received(stored, fmt, part.filename, dict(fields))


async def discard(store: ObjectStore, key: str) -> None:
    """Remove an object nothing will point at (best effort, logged)."""
    with contextlib.suppress(Exception):
        await store.delete(key)
        return
    log.warning("could not delete orphan object %s", key)


def content_type(request: Request) -> str:
    return _content_type(request)
