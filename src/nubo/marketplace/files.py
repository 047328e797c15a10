"""A dataset's data file: streamed into object storage, streamed back to entitled accounts.

The object is written first under a fresh key; only then does the dataset row point at it
(same unit of work). A failure before the commit leaves at worst an orphan object, never a
row pointing at a missing one. The replaced object is deleted after the response.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.principal import Actor
from nubo.kit.errors import NotFound
from nubo.kit.storage import ObjectStore, new_key
from nubo.kit.types import utcnow
from nubo.kit.uploads import request_body, sanitize_filename
from nubo.marketplace import billing, datasets
from nubo.models import Dataset

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def dataset_prefix(dataset_id: uuid.UUID) -> str:
    return f"datasets/dataset={dataset_id}"


async def upload(
    session: AsyncSession,
    store: ObjectStore,
    request: Request,
    dataset_id: uuid.UUID,
    filename: str | None,
    max_bytes: int,
) -> tuple[Dataset, str | None]:
    """Store the request body as the dataset's file; returns the dataset and the replaced key.

    Called with no transaction open: the body streams before the row is locked and updated.
    """
    key = new_key(dataset_prefix(dataset_id))
    stored = await store.put_stream(key, request_body(request, max_bytes), max_bytes=max_bytes)
    try:
        dataset = await datasets.get(session, dataset_id, lock="update")
        replaced = dataset.file_key
        content_type = request.headers.get("content-type", DEFAULT_CONTENT_TYPE).split(";")[0]
        dataset.file_key = stored.key
        dataset.file_size = stored.size
        dataset.file_sha256 = stored.sha256
        dataset.file_name = sanitize_filename(filename or "", default="data")
        dataset.file_content_type = content_type.strip()[:255] or DEFAULT_CONTENT_TYPE
        dataset.updated_at = utcnow()
        await session.flush()
    except BaseException:
        await store.delete(stored.key)
        raise
    return dataset, replaced


async def open_download(
    session: AsyncSession, store: ObjectStore, actor: Actor, dataset_id: uuid.UUID
) -> tuple[Dataset, AsyncIterator[bytes]]:
    dataset = await billing.entitled(session, actor, dataset_id)
    if dataset.file_key is None:
        raise NotFound("the dataset has no data file yet", code="no-data-file")
    return dataset, await store.get_stream(dataset.file_key)
