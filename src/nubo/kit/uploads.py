"""Streaming request bodies for Starlette/FastAPI: nothing here buffers a whole body.

A file sent either way clients send files (the route accepts both)::

    upload = await open_upload(request, max_bytes)  # raw body, or the form's `file` part
    stored = await store.put_stream(key, upload.chunks, max_bytes=max_bytes)
    fields = await upload.finish()           # a form's fields after the file; {} if raw

Raw body (``Content-Type`` is the file itself)::

    body = request_body(request, max_bytes=settings.max_upload_bytes)  # 413 on Content-Length
    stored = await store.put_stream(key, body, max_bytes=..., on_first_bytes=check_format)

``multipart/form-data`` with one file part::

    form = MultipartStream.from_request(request, max_body_bytes=limit)
    upload = await form.next_file()          # text fields sent *before* the file are read
    if upload is None:
        raise Unprocessable("no file part")
    early = form.fields                      # e.g. validate the aircraft before storing
    stored = await store.put_stream(key, upload.chunks, max_bytes=limit)
    fields = await form.finish()             # fields sent *after* the file, end checked
    # only now record `stored` in the database (and delete the object if that fails)

Fields may come before or after the file part; those before it are available before a
single file byte is stored, so put what a client must validate early first. A second
file part, a truncated body or a malformed one raise :class:`MalformedUpload`.

The endpoint must read the body itself (``request: Request``), never declare FastAPI
``UploadFile``/``Form`` parameters, which would spool the whole body first.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from nubo.kit.errors import NuboError
from nubo.kit.storage import ObjectTooLarge

__all__ = [
    "EmptyUpload",
    "FilePart",
    "FormLimitExceeded",
    "MalformedUpload",
    "MultipartStream",
    "UnsupportedUpload",
    "Upload",
    "UploadError",
    "declared_length",
    "iter_limited",
    "open_upload",
    "refuse_empty",
    "request_body",
    "sanitize_filename",
]

KiB: Final = 1024
DEFAULT_MAX_FIELD_BYTES: Final = 64 * KiB
DEFAULT_MAX_FIELDS: Final = 32
DEFAULT_MAX_PART_HEADERS: Final = 8
DEFAULT_MAX_PART_HEADER_BYTES: Final = 4 * KiB


class UploadError(NuboError):
    """Base class of request-body errors (answer 400)."""

    status, code, title = 400, "bad-upload", "Bad request"


class MalformedUpload(UploadError):
    """The body is not what its headers claim: truncated, bad multipart, bad encoding (400)."""

    code = "malformed-upload"


class UnsupportedUpload(UploadError):
    """The request's Content-Type is not one this endpoint reads (415)."""

    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class EmptyUpload(UploadError):
    """The file has no byte (422: the payload itself is invalid)."""

    status, code, title = 422, "empty-file", "Unprocessable content"


class FormLimitExceeded(ObjectTooLarge):
    """A text field is too long or there are too many fields (413)."""


# --------------------------------------------------------------------------- raw bodies


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The request's ``Content-Length`` as an int, ``None`` if absent (chunked)."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is true, int("²") fails
        raise MalformedUpload("invalid Content-Length header")
    return int(raw)


async def iter_limited(
    chunks: AsyncIterable[bytes], max_bytes: int, *, expected_length: int | None = None
) -> AsyncIterator[bytes]:
    """Pass ``chunks`` through, raising :class:`ObjectTooLarge` as soon as more than
    ``max_bytes`` arrived. With ``expected_length`` (a declared Content-Length) the cap is
    checked before reading, and a body that ends short raises :class:`MalformedUpload`.
    Empty chunks are dropped.
    """
    if expected_length is not None and expected_length > max_bytes:
        raise ObjectTooLarge(max_bytes)
    total = 0
    async for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        if total > max_bytes:
            raise ObjectTooLarge(max_bytes)
        yield chunk
    if expected_length is not None and total != expected_length:
        raise MalformedUpload(f"body has {total} bytes, Content-Length said {expected_length}")


def request_body(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
    """The request body as a capped stream. Raises :class:`ObjectTooLarge` right away when
    ``Content-Length`` already says too much; without it, the cap applies while reading.
    """
    length = declared_length(request.headers)
    if length is not None and length > max_bytes:
        raise ObjectTooLarge(max_bytes)
    return iter_limited(request.stream(), max_bytes, expected_length=length)


# --------------------------------------------------------------------------- multipart


@dataclass
class FilePart:
    """The file part of a form. ``chunks`` can be consumed once."""

    field_name: str
    filename: str  # sanitized, for display only: never a path or a storage key
    raw_filename: str  # as sent by the client
    content_type: str
    chunks: AsyncIterator[bytes]


_Event = (
    tuple[Literal["begin"], list[tuple[bytes, bytes]]]
    | tuple[Literal["data"], bytes]
    | tuple[Literal["part_end"], None]
    | tuple[Literal["end"], None]
)


class MultipartStream:
    """A streaming ``multipart/form-data`` reader over python-multipart's push parser.

    Reads text fields (each at most ``max_field_bytes``, at most ``max_fields`` of them)
    and exactly one file part, whose bytes are handed out as an async iterator without
    ever being collected. Memory use is bounded by one input chunk plus the field limits.
    """

    def __init__(
        self,
        chunks: AsyncIterable[bytes],
        boundary: bytes | str,
        *,
        max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
        max_fields: int = DEFAULT_MAX_FIELDS,
        file_field: str | None = None,
    ) -> None:
        self.fields: dict[str, str] = {}
        self.field_items: list[tuple[str, str]] = []
        self.max_field_bytes = max_field_bytes
        self.max_fields = max_fields
        self.file_field = file_field
        self._source = aiter(chunks)
        self._source_done = False
        self._events: deque[_Event] = deque()
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._file_iter: AsyncIterator[bytes] | None = None
        self._file_seen = False
        self._file_open = False
        self._ended = False
        if isinstance(boundary, str):
            boundary = boundary.encode("latin-1")
        try:
            self._parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
                max_header_count=DEFAULT_MAX_PART_HEADERS,
                max_header_size=DEFAULT_MAX_PART_HEADER_BYTES,
            )
        except FormParserError as exc:
            raise MalformedUpload(f"invalid multipart boundary: {exc}") from exc

    @classmethod
    def from_request(
        cls,
        request: Request,
        *,
        max_body_bytes: int,
        max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
        max_fields: int = DEFAULT_MAX_FIELDS,
        file_field: str | None = None,
    ) -> MultipartStream:
        """Read ``request``'s body as a form; :class:`UnsupportedUpload` unless it is
        ``multipart/form-data``, :class:`ObjectTooLarge` if Content-Length passes the cap.
        """
        ctype, params = parse_options_header(request.headers.get("content-type"))
        if ctype != b"multipart/form-data":
            raise UnsupportedUpload("expected multipart/form-data")
        boundary = params.get(b"boundary")
        if not boundary:
            raise MalformedUpload("multipart/form-data without a boundary")
        return cls(
            request_body(request, max_body_bytes),
            boundary,
            max_field_bytes=max_field_bytes,
            max_fields=max_fields,
            file_field=file_field,
        )

    # ----------------------------------------------------------------- public

    async def next_file(self) -> FilePart | None:
        """Read the fields up to the file part and return it; ``None`` if the form has none
        (then the whole form has been read and :attr:`fields` is complete).
        """
        if self._file_seen:
            raise RuntimeError("next_file() may be called once")
        while True:
            event = await self._next_event()
            if event[0] == "end":
                return None
            if event[0] != "begin":  # pragma: no cover - the parser never does this
                raise MalformedUpload("multipart data outside a part")
            name, filename, content_type = self._describe(event[1])
            if filename is None:
                await self._read_field(name)
                continue
            if self.file_field is not None and name != self.file_field:
                raise MalformedUpload(f"the file must be sent as field {self.file_field!r}")
            self._file_seen = self._file_open = True
            self._file_iter = self._file_chunks()
            return FilePart(
                field_name=name,
                filename=sanitize_filename(filename),
                raw_filename=filename,
                content_type=content_type,
                chunks=self._file_iter,
            )

    async def finish(self) -> dict[str, str]:
        """Read the rest of the form (fields after the file part; the file's unread bytes
        are discarded), check it ends properly, and return all fields.
        """
        if self._file_open and self._file_iter is not None:
            async for _ in self._file_iter:
                pass
        while not self._ended:
            event = await self._next_event()
            if event[0] == "end":
                break
            if event[0] != "begin":  # pragma: no cover
                raise MalformedUpload("multipart data outside a part")
            name, filename, _ = self._describe(event[1])
            if filename is not None:
                raise MalformedUpload("only one file part is allowed")
            await self._read_field(name)
        async for _ in self._source:  # an epilogue, if any (still capped by the source)
            pass
        return self.fields

    # ----------------------------------------------------------------- parts

    async def _read_field(self, name: str) -> None:
        if len(self.field_items) >= self.max_fields:
            raise FormLimitExceeded(self.max_fields, f"more than {self.max_fields} form fields")
        value = bytearray()
        while True:
            event = await self._next_event()
            if event[0] == "data":
                value += event[1]
                if len(value) > self.max_field_bytes:
                    raise FormLimitExceeded(
                        self.max_field_bytes,
                        f"form field {name!r} is longer than {self.max_field_bytes} bytes",
                    )
            elif event[0] == "part_end":
                break
            else:  # pragma: no cover
                raise MalformedUpload("unexpected multipart structure")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedUpload(f"form field {name!r} is not valid UTF-8") from exc
        self.fields[name] = text
        self.field_items.append((name, text))

    async def _file_chunks(self) -> AsyncIterator[bytes]:
        while True:
            event = await self._next_event()
            if event[0] == "data":
                if event[1]:
                    yield event[1]
            elif event[0] == "part_end":
                self._file_open = False
                return
            else:  # pragma: no cover
                raise MalformedUpload("unexpected multipart structure")

    def _describe(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str | None, str]:
        disposition = b""
        content_type = b"application/octet-stream"
        for field, value in headers:
            if field == b"content-disposition":
                disposition = value
            elif field == b"content-type":
                content_type = value
        kind, params = parse_options_header(disposition)
        if kind != b"form-data" or b"name" not in params:
            raise MalformedUpload("every part needs Content-Disposition: form-data; name=...")
        try:
            name = params[b"name"].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedUpload("a field name is not valid UTF-8") from exc
        raw_filename = params.get(b"filename")
        filename = None if raw_filename is None else raw_filename.decode("utf-8", "replace")
        ctype = parse_options_header(content_type)[0].decode("latin-1")
        return name, filename, ctype or "application/octet-stream"

    # ----------------------------------------------------------------- parser plumbing

    async def _next_event(self) -> _Event:
        while not self._events:
            if self._ended or self._source_done:
                raise MalformedUpload("the multipart body ended before its closing boundary")
            chunk = await anext(self._source, None)
            if chunk is None:
                self._source_done = True
                continue
            try:
                self._parser.write(chunk)
            except FormParserError as exc:
                raise MalformedUpload(f"malformed multipart body: {exc}") from exc
        event = self._events.popleft()
        if event[0] == "end":
            self._ended = True
        return event

    def _on_part_begin(self) -> None:
        self._headers = []

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._header_field).lower(), bytes(self._header_value)))
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        self._events.append(("begin", self._headers))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", data[start:end]))

    def _on_part_end(self) -> None:
        self._events.append(("part_end", None))

    def _on_end(self) -> None:
        self._events.append(("end", None))


# --------------------------------------------------------------------------- either


FORM_OVERHEAD_BYTES: Final = 1024 * KiB
"""Room for the text fields and multipart framing on top of the file cap."""


@dataclass
class Upload:
    """A request's file, not yet read: the raw body, or the one file part of a
    ``multipart/form-data`` body. ``fields`` holds the form's text fields sent before the
    file until :meth:`finish` has read the rest. ``chunks`` is ``None`` for a form without
    a file part (then ``fields`` is already complete)."""

    chunks: AsyncIterator[bytes] | None
    filename: str | None  # sanitized, for display only
    content_type: str
    fields: dict[str, str]
    form: MultipartStream | None = None

    @property
    def is_form(self) -> bool:
        return self.form is not None

    async def finish(self) -> dict[str, str]:
        """Read the rest of a form (fields after the file, the closing boundary)."""
        if self.form is not None and self.chunks is not None:
            self.fields = dict(await self.form.finish())
        return self.fields


def media_type(request: Request) -> str:
    return parse_options_header(request.headers.get("content-type"))[0].decode("latin-1")


async def open_upload(request: Request, max_bytes: int, *, file_field: str = "file") -> Upload:
    """The file of a request sent either way clients send files, byte for byte: a
    ``multipart/form-data`` body (the ``file_field`` part; the file is capped at
    ``max_bytes``, the body at that plus :data:`FORM_OVERHEAD_BYTES`), or any other body
    as the file itself (``Content-Disposition: attachment; filename=...`` names it)."""
    ctype = media_type(request)
    if ctype != "multipart/form-data":
        return Upload(
            request_body(request, max_bytes),
            _disposition_name(request),
            ctype or "application/octet-stream",
            {},
        )
    form = MultipartStream.from_request(
        request, max_body_bytes=max_bytes + FORM_OVERHEAD_BYTES, file_field=file_field
    )
    part = await form.next_file()
    if part is None:
        return Upload(None, None, "application/octet-stream", dict(form.fields), form)
    return Upload(part.chunks, part.filename, part.content_type, dict(form.fields), form)


def _disposition_name(request: Request) -> str | None:
    raw = request.headers.get("content-disposition")
    if not raw:
        return None
    name = parse_options_header(raw)[1].get(b"filename")
    return sanitize_filename(name.decode("utf-8", "replace")) if name else None


def refuse_empty(head: bytes) -> None:
    """An ``on_first_bytes`` check for :meth:`ObjectStore.put_stream`: no empty files."""
    if not head:
        raise EmptyUpload("the file is empty")


# --------------------------------------------------------------------------- filenames


_BLANKS: Final = frozenset("\t\n\r\x0b\x0c")


def sanitize_filename(name: str, *, max_length: int = 200, default: str = "upload") -> str:
    """A client filename made safe to *display*: no directories, no control or bidi
    characters, no leading dots, at most ``max_length`` characters (extension kept).
    Never use it, sanitized or not, as a path or a storage key.
    """
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        " " if ch in _BLANKS or unicodedata.category(ch).startswith("Z") else ch
        for ch in name
        if ch in _BLANKS or not unicodedata.category(ch).startswith("C")
    )
    name = " ".join(name.split())  # collapse whitespace runs, trim ends
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        return default
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            name = stem[: max_length - len(ext) - 1].rstrip(". ") + "." + ext
        else:
            name = name[:max_length]
    return name
