"""Every error is problem+json with a stable code; nothing internal leaks."""

from __future__ import annotations

import pytest
from httpx import ASGITransport, AsyncClient

from nubo.kit.errors import Conflict


async def test_unknown_route_is_404_problem(client):
    response = await client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not-found"


async def test_wrong_method_is_405_with_every_allowed_method(client):
    response = await client.patch("/api/accounts")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["code"] == "method-not-allowed"


async def test_literal_path_beats_a_templated_one_for_405(client, world):
    response = await client.delete("/api/users/profile", headers=world.headers("operator"))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


async def test_a_non_uuid_id_is_404_not_422(client, world):
    response = await client.delete("/api/users/not-a-uuid", headers=world.headers("operator"))
    assert response.status_code == 404


async def test_validation_errors_name_the_field(client):
    response = await client.post("/api/auth/signup", json={"name": "x"})
    body = response.json()
    assert response.status_code == 422 and body["code"] == "validation-error"
    assert ["body", "email"] in [e["loc"] for e in body["errors"]]


async def test_nul_in_a_body_is_422_and_in_a_path_is_400(client):
    body = {"account_name": "A\x00", "name": "n", "email": "n@example.com", "password": "x" * 10}
    assert (await client.post("/api/auth/signup", json=body)).status_code == 422
    assert (await client.get("/api/users/email/a%00b")).status_code == 400


@pytest.fixture
def failing_app(app):
    async def boom():
        raise RuntimeError("secret internals: password=hunter2")

    async def conflict():
        raise Conflict("it clashes", code="clash")

    app.add_api_route("/api/test/boom", boom)
    app.add_api_route("/api/test/conflict", conflict)
    return app


async def test_an_unexpected_error_is_500_problem_without_internals(failing_app):
    transport = ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/api/test/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in response.text and "Traceback" not in response.text


async def test_business_conflicts_are_409_with_their_code(failing_app):
    async with AsyncClient(transport=ASGITransport(app=failing_app), base_url="http://t") as c:
        response = await c.get("/api/test/conflict")
    assert response.status_code == 409 and response.json()["code"] == "clash"
