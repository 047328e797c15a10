"""The request's unit of work is committed before the response leaves."""

from __future__ import annotations

from httpx import ASGITransport, AsyncClient

from nubo.kit.db import Session


async def test_a_failing_commit_turns_the_response_into_an_error(app):
    class Exploding:
        async def commit(self) -> None:
            raise RuntimeError("disk full")

        async def rollback(self) -> None:
            return None

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc) -> None:
            return None

    app.state.sessionmaker = lambda: Exploding()

    async def create(session: Session) -> dict[str, str]:
        return {"status": "created"}

    app.add_api_route("/unit-of-work", create, methods=["POST"], status_code=201)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/unit-of-work")
    assert response.status_code == 500  # never a 201 for data that was not stored
