"""Specification of nubo.kit.uploads: capped raw bodies and the streaming multipart reader."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nubo.kit.storage import ObjectStore, ObjectTooLarge, new_key
from nubo.kit.uploads import (
    FormLimitExceeded,
    MalformedUpload,
    MultipartStream,
    UnsupportedUpload,
    UploadError,
    declared_length,
    iter_limited,
    request_body,
    sanitize_filename,
)

KiB = 1024
MiB = 1024 * KiB
BOUNDARY = "nubo-boundary-7MA4YWxkTrZu0gW"


def part(name: str, body: bytes, filename: str | None = None, ctype: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return head.encode() + b"\r\n" + body + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


# --------------------------------------------------------------------------- multipart reader


@pytest.mark.parametrize("chunk", [1, 7, 64, 64 * KiB], ids=lambda n: f"chunk{n}")
async def test_fields_before_and_after_the_file_and_the_file_bytes(chunk: int) -> None:
    payload = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n"
    body = form(
        part("registration", b"PR-XYZ"),
        part("notes", "voo ção".encode()),
        part("file", payload, filename="flight.csv", ctype="text/csv"),
        part("after", b"yes"),
    )
    reader = MultipartStream(chunked(body, chunk), BOUNDARY)
    upload = await reader.next_file()
    assert upload is not None
    assert reader.fields == {"registration": "PR-XYZ", "notes": "voo ção"}
    assert (upload.field_name, upload.filename, upload.content_type) == (
        "file",
        "flight.csv",
        "text/csv",
    )
    assert await collect(upload.chunks) == payload
    fields = await reader.finish()
    assert fields == {"registration": "PR-XYZ", "notes": "voo ção", "after": "yes"}
    assert reader.field_items[-1] == ("after", "yes")


async def test_form_without_a_file_part() -> None:
    reader = MultipartStream(chunked(form(part("a", b"1")), 10), BOUNDARY)
    assert await reader.next_file() is None
    assert await reader.finish() == {"a": "1"}


async def test_path_traversal_filename_is_sanitized_for_display() -> None:
    body = form(part("file", b"x", filename="../../etc/passwd"))
    upload = await MultipartStream(chunked(body, 100), BOUNDARY).next_file()
    assert upload is not None
    assert upload.raw_filename == "../../etc/passwd"
    assert upload.filename == "passwd"


async def test_a_second_file_part_is_refused() -> None:
    body = form(part("file", b"1", filename="a.csv"), part("file2", b"2", filename="b.csv"))
    reader = MultipartStream(chunked(body, 100), BOUNDARY)
    upload = await reader.next_file()
    assert upload is not None
    assert await collect(upload.chunks) == b"1"
    with pytest.raises(MalformedUpload, match="only one file"):
        await reader.finish()


async def test_file_field_name_can_be_required() -> None:
    body = form(part("other", b"1", filename="a.csv"))
    with pytest.raises(MalformedUpload, match="'file'"):
        await MultipartStream(chunked(body, 100), BOUNDARY, file_field="file").next_file()


async def test_truncated_body_fails_inside_the_file_stream() -> None:
    body = form(part("file", b"z" * 5000, filename="a.csv"))[:3000]
    upload = await MultipartStream(chunked(body, 512), BOUNDARY).next_file()
    assert upload is not None
    with pytest.raises(MalformedUpload, match="closing boundary"):
        await collect(upload.chunks)


async def test_garbage_is_malformed() -> None:
    with pytest.raises(MalformedUpload):
        await MultipartStream(chunked(b"this is not multipart at all", 8), BOUNDARY).next_file()


async def test_part_without_a_name_is_malformed() -> None:
    body = f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    with pytest.raises(MalformedUpload, match="name"):
        await MultipartStream(chunked(body.encode(), 50), BOUNDARY).next_file()


async def test_field_that_is_not_utf8_is_malformed() -> None:
    body = form(part("a", b"\xff\xfe"))
    with pytest.raises(MalformedUpload, match="UTF-8"):
        await MultipartStream(chunked(body, 50), BOUNDARY).next_file()


async def test_field_size_and_count_are_capped() -> None:
    big = form(part("a", b"x" * (64 * KiB + 1)), part("file", b"", filename="f"))
    with pytest.raises(FormLimitExceeded) as info:
        await MultipartStream(chunked(big, 4 * KiB), BOUNDARY).next_file()
    assert isinstance(info.value, ObjectTooLarge)
    many = form(*[part(f"f{i}", b"1") for i in range(5)])
    with pytest.raises(FormLimitExceeded, match="more than 4"):
        await MultipartStream(chunked(many, 100), BOUNDARY, max_fields=4).next_file()


async def test_file_part_is_streamed_not_collected() -> None:
    """A 20 MiB file arrives as many chunks no bigger than the input chunks."""
    pulled = 0
    payload_size = 20 * MiB

    async def source() -> AsyncIterator[bytes]:
        nonlocal pulled
        head = part("file", b"", filename="big.bin")[: -len(b"\r\n")]
        yield head
        block = b"\x00" * (64 * KiB)
        for _ in range(payload_size // len(block)):
            pulled += len(block)
            yield block
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    reader = MultipartStream(source(), BOUNDARY)
    upload = await reader.next_file()
    assert upload is not None
    total, biggest = 0, 0
    async for chunk in upload.chunks:
        total += len(chunk)
        biggest = max(biggest, len(chunk))
        assert pulled - total <= 64 * KiB  # nothing read ahead beyond one input chunk
    assert total == payload_size and biggest <= 64 * KiB
    await reader.finish()


# --------------------------------------------------------------------------- raw bodies


async def test_iter_limited_raises_as_soon_as_the_cap_is_passed() -> None:
    seen = 0
    with pytest.raises(ObjectTooLarge):
        async for chunk in iter_limited(chunked(b"a" * 10_000, 1000), 4500):
            seen += len(chunk)
    assert seen == 4000


async def test_iter_limited_checks_the_declared_length() -> None:
    with pytest.raises(ObjectTooLarge):
        await collect(iter_limited(chunked(b"", 1), 10, expected_length=11))
    with pytest.raises(MalformedUpload, match="Content-Length"):
        await collect(iter_limited(chunked(b"abc", 1), 10, expected_length=5))
    assert await collect(iter_limited(chunked(b"abcde", 2), 10, expected_length=5)) == b"abcde"


# --------------------------------------------------------------------------- through HTTP


class Counting:
    """A request body that counts what the server pulled (no Content-Length: chunked)."""

    def __init__(self, data: bytes, chunk: int = 64 * KiB) -> None:
        self.data, self.chunk, self.pulled = data, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), self.chunk):
            piece = self.data[i : i + self.chunk]
            self.pulled += len(piece)
            yield piece


def make_app(store: ObjectStore, limit: int) -> Starlette:
    def sniff(head: bytes) -> None:
        if not head.startswith(b"a,b"):
            raise UnsupportedUpload("not a CSV with the expected header")

    def problem(exc: Exception) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__}, status_code=getattr(exc, "status", 500))

    async def create(request: Request) -> JSONResponse:
        try:
            reader = MultipartStream.from_request(request, max_body_bytes=limit + 64 * KiB)
            upload = await reader.next_file()
            if upload is None:
                return JSONResponse({"error": "no file"}, status_code=422)
            before = dict(reader.fields)
            key = new_key("uploads", ".csv")
            stored = await store.put_stream(
                key, upload.chunks, max_bytes=limit, on_first_bytes=sniff
            )
            fields = await reader.finish()
        except (UploadError, ObjectTooLarge) as exc:
            return problem(exc)
        return JSONResponse(
            {
                "key": stored.key,
                "size": stored.size,
                "sha256": stored.sha256,
                "filename": upload.filename,
                "before": before,
                "fields": fields,
            }
        )

    async def raw(request: Request) -> JSONResponse:
        try:
            body = request_body(request, limit)
            stored = await store.put_stream(new_key("raw"), body, max_bytes=limit)
        except (UploadError, ObjectTooLarge) as exc:
            return problem(exc)
        return JSONResponse({"size": stored.size})

    return Starlette(
        routes=[Route("/create", create, methods=["POST"]), Route("/raw", raw, methods=["POST"])]
    )


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def http(tmp_path: Path) -> tuple[httpx.AsyncClient, Path]:
    root = tmp_path / "objects"
    app = make_app(ObjectStore.from_url(str(root)), limit=1 * MiB)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t"), root


def multipart_headers() -> dict[str, str]:
    return {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


async def test_http_multipart_upload_streams_into_the_store(
    http: tuple[httpx.AsyncClient, Path],
) -> None:
    client, root = http
    csv = b"a,b\n" + b"1,2\n" * 50_000
    body = form(
        part("registration", b"PR-ABC"),
        part("file", csv, filename="C:\\flights\\..\\x\u202e.csv"),
        part("note", b"after"),
    )
    resp = await client.post("/create", content=Counting(body), headers=multipart_headers())
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["size"] == len(csv) and got["sha256"] == hashlib.sha256(csv).hexdigest()
    assert got["before"] == {"registration": "PR-ABC"}
    assert got["fields"] == {"registration": "PR-ABC", "note": "after"}
    assert got["filename"] == "x.csv"
    assert (root / got["key"]).read_bytes() == csv


async def test_http_file_over_cap_without_content_length_is_413_early(
    http: tuple[httpx.AsyncClient, Path],
) -> None:
    client, root = http
    body = Counting(form(part("file", b"a,b\n" + b"9" * (8 * MiB), filename="big.csv")))
    resp = await client.post("/create", content=body, headers=multipart_headers())
    assert resp.status_code == 413
    assert body.pulled <= 1 * MiB + 2 * body.chunk  # stopped reading right after the cap
    assert stored_files(root) == []


async def test_http_content_length_over_cap_is_413_before_reading(
    http: tuple[httpx.AsyncClient, Path],
) -> None:
    client, root = http
    resp = await client.post("/raw", content=b"0" * (2 * MiB))  # httpx sends Content-Length
    assert resp.status_code == 413
    assert stored_files(root) == []
    resp = await client.post("/raw", content=Counting(b"0" * (2 * MiB)))  # chunked
    assert resp.status_code == 413
    assert stored_files(root) == []
    resp = await client.post("/raw", content=b"0" * 1000)
    assert resp.status_code == 200 and resp.json() == {"size": 1000}


async def test_http_unrecognised_format_is_415_and_stores_nothing(
    http: tuple[httpx.AsyncClient, Path],
) -> None:
    client, root = http
    body = form(part("file", b"\x89PNG\r\n" + b"\0" * 20_000, filename="cat.png"))
    resp = await client.post("/create", content=Counting(body), headers=multipart_headers())
    assert resp.status_code == 415
    assert stored_files(root) == []


async def test_http_not_multipart_is_415(http: tuple[httpx.AsyncClient, Path]) -> None:
    client, _ = http
    resp = await client.post("/create", json={"a": 1})
    assert resp.status_code == 415


async def test_http_truncated_multipart_stores_nothing(
    http: tuple[httpx.AsyncClient, Path],
) -> None:
    client, root = http
    body = form(part("file", b"a,b\n" + b"1" * 100_000, filename="x.csv"))[:50_000]
    resp = await client.post("/create", content=Counting(body), headers=multipart_headers())
    assert resp.status_code == 400
    assert stored_files(root) == []


# --------------------------------------------------------------------------- filenames


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("flight.csv", "flight.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
        ("/abs/path/data.parquet", "data.parquet"),
        ("..", "upload"),
        ("", "upload"),
        ("   ", "upload"),
        (".hidden", "hidden"),
        ("a\x00b\x1fc\x7f.csv", "abc.csv"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("line\nbreak.csv", "line break.csv"),
        ("dados de voo ção.csv.gz", "dados de voo ção.csv.gz"),
    ],
)
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_sanitize_filename_limits_length_and_keeps_the_extension() -> None:
    name = sanitize_filename("x" * 1000 + ".csv.gz", max_length=50)
    assert len(name) <= 50 and name.endswith(".gz")
    assert sanitize_filename("y" * 1000, max_length=50) == "y" * 50


async def test_client_disconnect_mid_file_stores_nothing(tmp_path: Path) -> None:
    """The ASGI server reports a disconnect half-way through a 12 MiB file part."""
    root = tmp_path / "objects"
    store = ObjectStore.from_url(str(root))
    app = make_app(store, limit=64 * MiB)
    head = part("file", b"", filename="x.csv")[: -len(b"\r\n")] + b"a,b\n"
    messages = [{"type": "http.request", "body": head, "more_body": True}]
    messages += [
        {"type": "http.request", "body": b"1,2\n" * (64 * KiB), "more_body": True}
        for _ in range(48)
    ]
    messages.append({"type": "http.disconnect"})

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/create",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
        "query_string": b"",
    }
    with pytest.raises(ClientDisconnect):
        await app(scope, receive, send)
    assert messages == []  # the whole 12 MiB went through before the disconnect
    assert stored_files(root) == []


@pytest.mark.parametrize("raw", ["²", "1²", "١٢", "-1", "1e3", "0x10", ""])
def test_a_content_length_that_is_not_ascii_digits_is_a_malformed_upload(raw: str) -> None:
    with pytest.raises(MalformedUpload):
        declared_length({"content-length": raw})
