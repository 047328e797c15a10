"""Presigned S3 multipart uploads, next to :class:`~nubo.kit.storage.ObjectStore`.

obstore signs single requests but does not expose the multipart-upload calls, so this
module talks to S3 with botocore for exactly those: CreateMultipartUpload, presigned
UploadPart URLs, ListParts, CompleteMultipartUpload and AbortMultipartUpload. The client is
built from the very configuration of the store's obstore ``S3Store`` (bucket, prefix,
endpoint, region, credentials, ``allow_http``), so both talk to the same place and keys are
the store's keys. botocore is blocking: every call runs in a worker thread
(``asyncio.to_thread``), never on the event loop.

Errors are the storage module's: :class:`StorageUnavailable` (503) when S3 fails or cannot
be reached, :class:`NotSupported` (501) for a store that is not S3, plus
:class:`UploadNotFound` (no such multipart upload) and :class:`InvalidParts` (the part list
does not match the uploaded parts).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from nubo.kit.storage import (
    NotSupported,
    ObjectStore,
    StorageError,
    StorageUnavailable,
    check_key,
)

__all__ = [
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "InvalidParts",
    "S3Multipart",
    "UploadNotFound",
    "UploadedPart",
    "normalize_etag",
]

MiB: Final = 1024 * 1024
MIN_PART_SIZE: Final = 5 * MiB
"""S3's minimum size of every part but the last."""
MAX_PART_SIZE: Final = 5 * 1024 * MiB
MAX_PARTS: Final = 10_000

_CONNECT_TIMEOUT_S: Final = 5.0
_READ_TIMEOUT_S: Final = 60.0
_MAX_ATTEMPTS: Final = 3

# S3 error codes that mean "the part list is wrong", as opposed to "S3 failed".
_PART_ERRORS: Final = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall"})

T = TypeVar("T")


class UploadNotFound(StorageError):
    """No such multipart upload (never created, completed, or aborted)."""

    status, code, title = 404, "upload-not-found", "Not found"
    public_detail = None


class InvalidParts(StorageError):
    """The part list does not match what was uploaded (``s3_code`` says how, if S3 did)."""

    status, code, title = 409, "upload-parts-mismatch", "Conflict"
    public_detail = None

    def __init__(self, message: str, s3_code: str | None = None) -> None:
        self.s3_code = s3_code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class UploadedPart:
    part_number: int
    etag: str  # without quotes
    size: int


def normalize_etag(etag: str) -> str:
    """An ETag as S3 compares it: surrounding quotes (and a weak ``W/``) removed."""
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def _s3_config(store: ObjectStore) -> tuple[dict[str, Any], str, bool]:
    """(obstore S3 config, key prefix, allow_http) of an S3 ``ObjectStore``."""
    if store.kind != "s3":
        raise NotSupported(f"multipart presigned uploads need S3; this store is {store.kind!r}")
    s3 = store.s3
    config = dict(s3.config)
    prefix = str(s3.prefix or "").strip("/")
    allow_http = str((s3.client_options or {}).get("allow_http", "false")).lower() == "true"
    return config, prefix, allow_http


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _client(config: dict[str, Any], allow_http: bool) -> Any:
    """A botocore S3 client for this configuration (made once; clients are thread-safe)."""
    import boto3
    from botocore.config import Config

    endpoint = config.get("endpoint")
    if endpoint and endpoint.startswith("http://") and not allow_http:
        raise NotSupported("the S3 endpoint is plain http but allow_http is off")
    virtual = str(config.get("virtual_hosted_style_request", "false")).lower() == "true"
    style = "virtual" if virtual else ("path" if endpoint else "auto")
    cache_key = (
        endpoint,
        config.get("region"),
        config.get("access_key_id"),
        config.get("secret_access_key"),
        config.get("token") or config.get("session_token"),
        style,
    )
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint or None,
                region_name=config.get("region") or None,
                aws_access_key_id=config.get("access_key_id") or None,
                aws_secret_access_key=config.get("secret_access_key") or None,
                aws_session_token=cache_key[4] or None,
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": style},
                    connect_timeout=_CONNECT_TIMEOUT_S,
                    read_timeout=_READ_TIMEOUT_S,
                    retries={"max_attempts": _MAX_ATTEMPTS, "mode": "standard"},
                ),
            )
            _clients[cache_key] = client
    return client


class S3Multipart:
    """Multipart-upload calls on the bucket (and under the prefix) of an S3 ``ObjectStore``.

    Build it with :meth:`for_store`; ``key`` arguments are the store's keys.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    async def for_store(cls, store: ObjectStore) -> S3Multipart:
        """Raises :class:`NotSupported` unless ``store`` is S3."""
        config, prefix, allow_http = _s3_config(store)
        bucket = config.get("bucket")
        if not bucket:
            raise NotSupported("the S3 store has no bucket")
        client = await asyncio.to_thread(_client, config, allow_http)  # loads botocore models
        return cls(client, str(bucket), prefix)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except StorageError:
            raise
        except Exception as exc:
            raise _map(exc) from exc

    async def create(self, key: str) -> str:
        """Start a multipart upload of ``key``; returns its upload id."""
        resp = await self._call(
            self._client.create_multipart_upload, Bucket=self.bucket, Key=self._key(key)
        )
        return str(resp["UploadId"])

    async def presign_parts(
        self, key: str, upload_id: str, part_numbers: Sequence[int], expires_s: int
    ) -> list[str]:
        """Presigned ``PUT`` URLs of UploadPart, one per part number (1..10000)."""
        full = self._key(key)

        def sign() -> list[str]:
            return [
                self._client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket,
                        "Key": full,
                        "UploadId": upload_id,
                        "PartNumber": number,
                    },
                    ExpiresIn=expires_s,
                    HttpMethod="PUT",
                )
                for number in part_numbers
            ]

        return await self._call(sign)

    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts uploaded so far, by part number."""
        full = self._key(key)

        def fetch() -> list[UploadedPart]:
            parts: list[UploadedPart] = []
            marker = 0
            while True:
                resp = self._client.list_parts(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumberMarker=marker
                )
                parts.extend(
                    UploadedPart(int(p["PartNumber"]), normalize_etag(p["ETag"]), int(p["Size"]))
                    for p in resp.get("Parts", [])
                )
                if not resp.get("IsTruncated"):
                    break
                marker = int(resp["NextPartNumberMarker"])
            return sorted(parts, key=lambda p: p.part_number)

        return await self._call(fetch)

    async def complete(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Assemble the object from ``(part_number, etag)`` in ascending order."""
        await self._call(
            self._client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": number, "ETag": f'"{normalize_etag(etag)}"'}
                    for number, etag in sorted(parts)
                ]
            },
        )

    async def abort(self, key: str, upload_id: str) -> None:
        """Abort the upload and drop its parts; an upload already gone is not an error."""
        try:
            await self._call(
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
            )
        except UploadNotFound:
            return


def _map(exc: Exception) -> Exception:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("NoSuchUpload", "404"):
            return UploadNotFound(f"no such multipart upload ({code})")
        if code in _PART_ERRORS:
            return InvalidParts(str(error.get("Message") or code), s3_code=code)
        return StorageUnavailable(f"object storage (s3) refused the request: {code or 'error'}")
    if isinstance(exc, (BotoCoreError, OSError, TimeoutError)):
        return StorageUnavailable(f"object storage (s3) failed: {type(exc).__name__}")
    return exc
