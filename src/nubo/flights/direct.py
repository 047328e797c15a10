"""Direct uploads to S3 with a presigned URL: the API hands out the URL for a server-made
key, the client PUTs the file there, and `upload-complete` verifies the object (size cap,
format from its bytes, sha256 computed by reading it back) before the flight points at it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.bleed.sniff import detect_format
from nubo.flights import repository, service, uploads
from nubo.flights.schemas import UploadUrlIn, UploadUrlOut
from nubo.kit.errors import Conflict, NuboError, PayloadTooLarge, UnsupportedMediaType
from nubo.kit.storage import NotSupported, ObjectStore
from nubo.kit.types import utcnow
from nubo.kit.uploads import sanitize_filename
from nubo.models import Flight, User


class PresignUnsupported(NuboError):
    status, code, title = 501, "presigned-upload-unsupported", "Not implemented"


async def start(
    request: Request,
    actor: User,
    session: AsyncSession,
    store: ObjectStore,
    flight_id: uuid.UUID,
    data: UploadUrlIn | None,
) -> UploadUrlOut:
    settings = request.app.state.settings
    await session.commit()  # end the authentication read; this unit starts with a write
    await repository.touch(session, flight_id)
    flight = await service.get_flight(session, actor, flight_id, for_update=True)
    key = uploads.new_raw_key(flight.account_id, flight.id)
    try:
        url = await store.presign_put(key, settings.presigned_upload_ttl_s)
    except NotSupported as exc:
        raise PresignUnsupported(
            "this server stores files locally; upload through POST /api/flight/{id}/upload"
        ) from exc
    except Exception as exc:
        raise uploads.api_error(exc) from exc
    expires = utcnow() + timedelta(seconds=settings.presigned_upload_ttl_s)
    flight.pending_key = key
    flight.pending_name = sanitize_filename(data.file_name) if data and data.file_name else None
    flight.pending_expires_at = expires
    await session.flush()
    return UploadUrlOut(url=url, key=key, expires_at=expires, max_bytes=settings.max_upload_bytes)


async def verify(
    request: Request,
    actor: User,
    session: AsyncSession,
    store: ObjectStore,
    flight_id: uuid.UUID,
) -> tuple[uploads.Received, Flight]:
    settings = request.app.state.settings
    flight = await service.get_flight(session, actor, flight_id)
    key, name = flight.pending_key, flight.pending_name
    if key is None:
        raise Conflict("no presigned upload is pending for this flight", code="no-pending-upload")
    await session.commit()  # release the connection while the object is read back
    try:
        size = await store.head(key)
        if size is None:
            raise Conflict("nothing was uploaded to the presigned URL yet", code="upload-missing")
        if size > settings.max_upload_bytes:
            await uploads.discard(store, key)
            raise PayloadTooLarge(
                f"the file exceeds the limit of {settings.max_upload_bytes} bytes",
                max_bytes=settings.max_upload_bytes,
            )
        fmt = detect_format(await store.read_head(key))
        if fmt is None:
            await uploads.discard(store, key)
            raise UnsupportedMediaType(
                "the file is not CSV, gzip-compressed CSV or Parquet (detected from its bytes)",
                code="unsupported-file-format",
            )
        stored = await store.hash_object(key)
    except NuboError:
        raise
    except Exception as exc:
        raise uploads.api_error(exc) from exc
    await repository.touch(session, flight_id)
    flight = await service.get_flight(session, actor, flight_id, for_update=True)
    if flight.pending_key != key:
        raise Conflict("another upload replaced this one", code="upload-superseded")
    return uploads.Received(stored, fmt, name), flight
