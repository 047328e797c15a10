"""A query validated as one model answers and documents itself as FastAPI's own parameters."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Query
from httpx import ASGITransport, AsyncClient
from pydantic import AwareDatetime, BaseModel, Field

from nubo.kit.errors import install_error_handlers
from nubo.kit.query import QueryModel


class _Colour(enum.Enum):
    red = "red"
    blue = "blue"


class _Query(BaseModel):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str | None, Field(max_length=8)] = None
    colour: _Colour | None = None
    since: Annotated[AwareDatetime | None, Field(alias="from")] = None
    owner_id: uuid.UUID | None = None


_QUERY = QueryModel(_Query)


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fastapi")
    async def by_fastapi(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=8)] = None,
        colour: _Colour | None = None,
        since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        owner_id: uuid.UUID | None = None,
    ) -> dict[str, object]:
        return _shown(limit, cursor, colour, since, owner_id)

    @app.get("/model", openapi_extra=_QUERY.openapi)
    async def by_model(q: Annotated[_Query, Depends(_QUERY)]) -> dict[str, object]:
        return _shown(q.limit, q.cursor, q.colour, q.since, q.owner_id)

    return app


def _shown(*values: object) -> dict[str, object]:
    return {"values": [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]}


def test_the_model_documents_the_parameters_fastapi_would():
    paths = _app().openapi()["paths"]
    assert paths["/model"]["get"]["parameters"] == paths["/fastapi"]["get"]["parameters"]


@pytest.mark.parametrize("query", [
    "", "limit=0", "limit=abc", "limit=", "limit=3&limit=7", "cursor=123456789",
    "colour=green", "colour=blue", "from=2026-01-01T00:00:00", "from=2026-01-01T00:00:00Z",
    "owner_id=x", "limit=0&colour=green&from=x", "since=2026-01-01T00:00:00&other=1",
])
async def test_the_model_answers_what_fastapis_parameters_answer(query):
    async with AsyncClient(transport=ASGITransport(app=_app()), base_url="http://x") as client:
        fastapi = await client.get(f"/fastapi?{query}")
        model = await client.get(f"/model?{query}")
    assert (model.status_code, model.json()) == (fastapi.status_code, fastapi.json())
