"""A dataset's data file: streamed into object storage, streamed back to entitled accounts.

A preview of the file (its columns and first rows, `preview.py`) is taken from the same
stream and stored with the row: no page reads the file to show it.

The file comes as the raw body or as the `file` part of a multipart form, byte for byte
either way (`kit.uploads.open_upload`, shared with the flights' upload). The object is
written first under a fresh key; only then does the dataset row point at it (same unit of
work). If the unit rolls back the new object is removed; once it commits, the replaced one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from nubo.identity.principal import Actor
from nubo.kit.db import after_commit, after_rollback
from nubo.kit.errors import NotFound, Unprocessable
from nubo.kit.storage import ObjectStore, discard, new_key
from nubo.kit.types import utcnow
from nubo.kit.uploads import Upload, refuse_empty, sanitize_filename
from nubo.marketplace import billing, datasets, preview
from nubo.models import Dataset

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def dataset_prefix(dataset_id: uuid.UUID) -> str:
    return f"datasets/dataset={dataset_id}"


async def upload(
    session: AsyncSession,
    store: ObjectStore,
    upload: Upload,
    dataset_id: uuid.UUID,
    filename: str | None,
    max_bytes: int,
) -> Dataset:
    """Store the upload's file as the dataset's file (an empty file is 422 `empty-file`).

    Called with no transaction open: the body streams before the row is locked and updated.
    """
    if upload.chunks is None:
        raise Unprocessable("the form has no `file` part", code="file-required")
    key = new_key(dataset_prefix(dataset_id))
    capture = preview.Capture(upload.chunks)
    stored = await store.put_stream(
        key, capture.chunks(), max_bytes=max_bytes, on_first_bytes=refuse_empty
    )
    after_rollback(session, lambda: discard(store, key))
    fields = await upload.finish()
    if fields:
        raise Unprocessable(
            f"unexpected form field(s): {', '.join(sorted(fields))}", code="unexpected-field"
        )
    # Parsed before the row is locked; off the event loop (up to a megabyte of CSV).
    shown = await asyncio.to_thread(preview.compute, capture)
    dataset = await datasets.get(session, dataset_id, lock="update")
    replaced = dataset.file_key
    if replaced is not None:
        after_commit(session, lambda: discard(store, replaced))
    dataset.file_key = stored.key
    dataset.file_size = stored.size
    dataset.file_sha256 = stored.sha256
    dataset.file_name = sanitize_filename(filename or upload.filename or "", default="data")
    dataset.file_content_type = upload.content_type.strip()[:255] or DEFAULT_CONTENT_TYPE
    dataset.preview = shown
    dataset.updated_at = utcnow()
    await session.flush()
    return dataset


async def open_download(
    session: AsyncSession, store: ObjectStore, actor: Actor, dataset_id: uuid.UUID
) -> tuple[Dataset, AsyncIterator[bytes]]:
    dataset = await billing.entitled(session, actor, dataset_id)
    if dataset.file_key is None:
        raise NotFound("the dataset has no data file yet", code="no-data-file")
    return dataset, await store.get_stream(dataset.file_key)
