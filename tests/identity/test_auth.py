"""Signup, login, token rotation, logout and the rules every token must pass."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import update

from nubo.kit.security import TokenCodec
from nubo.kit.types import utcnow
from nubo.models import RefreshToken, Role
from tests.fixtures.world import PASSWORD, make_user

SIGNUP = {"account_name": "Acme Air", "name": "Ana", "email": "Ana@Acme.example.com",
          "password": "s3cure-passw0rd"}


def assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= body.keys()


async def login(client, email: str, password: str = PASSWORD):
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_signup_creates_account_and_its_first_admin(client):
    response = await client.post("/api/auth/signup", json=SIGNUP)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["role"] == "admin"
    assert body["user"]["account_id"] == body["account"]["id"]
    assert body["user"]["email"] == "ana@acme.example.com"
    profile = await client.get(
        "/api/users/profile",
        headers={"Authorization": f"Bearer {body['tokens']['access_token']}"},
    )
    assert profile.json()["id"] == body["user"]["id"]


async def test_signup_with_an_email_in_use_is_409_whatever_its_case(client):
    assert (await client.post("/api/auth/signup", json=SIGNUP)).status_code == 201
    again = await client.post("/api/auth/signup", json={**SIGNUP, "email": "ANA@acme.example.COM"})
    assert_problem(again, 409, "email-taken")


@pytest.mark.parametrize("password", ["short", "x" * 129])
async def test_signup_password_outside_8_to_128_characters_is_422(client, password):
    response = await client.post("/api/auth/signup", json={**SIGNUP, "password": password})
    assert_problem(response, 422, "validation-error")
    assert response.json()["errors"][0]["loc"] == ["body", "password"]


async def test_signup_refuses_unknown_fields_so_role_cannot_be_assigned(client):
    response = await client.post("/api/auth/signup", json={**SIGNUP, "role": "operator"})
    assert_problem(response, 422, "validation-error")


async def test_login_with_json_returns_access_and_refresh_tokens(client, world):
    response = await login(client, world.member_a.email)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]


async def test_login_with_oauth2_form_works_for_the_docs_button(client, world):
    response = await client.post(
        "/api/auth/login", data={"username": world.member_a.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["access_token"]


async def test_users_authenticate_is_the_same_as_login(client, world):
    response = await client.post(
        "/api/users/authenticate", json={"email": world.admin_a.email, "password": PASSWORD}
    )
    assert response.status_code == 200


async def test_login_with_wrong_password_is_401(client, world):
    assert_problem(await login(client, world.member_a.email, "wrong-password"), 401,
                   "invalid-credentials")


async def test_login_with_unknown_email_is_401_like_a_wrong_password(client, world):
    assert_problem(await login(client, "nobody@example.com"), 401, "invalid-credentials")


async def test_login_with_malformed_json_is_422_not_500(client):
    response = await client.post(
        "/api/auth/login", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "invalid-json")


async def test_login_with_other_content_type_is_415(client):
    response = await client.post("/api/auth/login", content=b"x",
                                 headers={"content-type": "text/plain"})
    assert_problem(response, 415, "unsupported-media-type")


async def test_login_of_a_deleted_user_is_401(client, world, session):
    world.member_a.deleted_at = utcnow()
    await session.commit()
    assert_problem(await login(client, world.member_a.email), 401, "invalid-credentials")


async def test_a_deleted_users_email_can_be_reused(client, world, session):
    world.member_a.deleted_at = utcnow()
    await session.commit()
    reused = await make_user(session, world.platform, world.account_b, email=world.member_a.email)
    await session.commit()
    response = await login(client, reused.email)
    assert response.status_code == 200


async def test_repeated_failed_logins_for_one_email_are_429_with_retry_after(client, world):
    for _ in range(10):
        await login(client, world.member_a.email, "wrong-password")
    response = await login(client, world.member_a.email)  # even the right password now waits
    assert_problem(response, 429, "too-many-requests")
    assert int(response.headers["retry-after"]) > 0


async def test_a_stranger_guessing_an_email_does_not_lock_out_the_users_known_device(
    app, client, world
):
    assert (await login(client, world.member_a.email)).status_code == 200  # leaves the cookie
    device = client.cookies.get("nubo_device")
    assert device
    client.cookies.clear()  # the stranger's client has no device cookie
    for _ in range(10):
        await login(client, world.member_a.email, "wrong-password")
    assert_problem(await login(client, world.member_a.email), 429, "too-many-requests")
    client.cookies.set("nubo_device", device, path="/api")  # the user's own browser
    assert (await login(client, world.member_a.email)).status_code == 200


async def test_a_device_cookie_guessing_wrong_is_locked_out_itself(client, world):
    assert (await login(client, world.member_a.email)).status_code == 200
    for _ in range(10):
        await login(client, world.member_a.email, "wrong-password")
    assert_problem(await login(client, world.member_a.email), 429, "too-many-requests")


async def test_a_device_cookie_of_another_user_does_not_make_a_client_known(client, world):
    assert (await login(client, world.admin_a.email)).status_code == 200
    device = client.cookies.get("nubo_device")
    client.cookies.clear()
    for _ in range(10):
        await login(client, world.member_a.email, "wrong-password")
    client.cookies.set("nubo_device", device, path="/api")
    assert_problem(await login(client, world.member_a.email), 429, "too-many-requests")


async def test_signups_from_one_address_are_rate_limited(app, client):
    app.state.platform.signup_by_address.limit = 3
    for i in range(3):
        body = {**SIGNUP, "email": f"user{i}@acme.example.com"}
        assert (await client.post("/api/auth/signup", json=body)).status_code == 201
    again = await client.post("/api/auth/signup", json={**SIGNUP, "email": "x@acme.example.com"})
    assert_problem(again, 429, "too-many-requests")
    assert int(again.headers["retry-after"]) > 0


@pytest.mark.parametrize("password", ["password123", "12345678", "Password123", "iloveyou"])
async def test_signup_refuses_a_common_password_and_says_why(client, password):
    response = await client.post("/api/auth/signup", json={**SIGNUP, "password": password})
    assert_problem(response, 422, "validation-error")
    assert "10,000 most common" in response.json()["detail"]


async def test_common_passwords_are_refused_for_new_users_and_new_passwords(client, world):
    created = await client.post("/api/users", headers=world.headers("admin_a"), json={
        "account_id": str(world.account_a.id), "name": "N", "email": "n@example.com",
        "password": "qwertyuiop", "role": "member"})
    assert_problem(created, 422, "validation-error")
    edited = await client.patch("/api/users/edit", headers=world.headers("member_a"),
                                json={"password": "1qaz2wsx3edc", "current_password": PASSWORD})
    assert_problem(edited, 422, "validation-error")
    assert "most common" in edited.json()["detail"]


def test_the_bundled_list_holds_the_10000_most_common_passwords():
    from nubo.identity.passwords import common_passwords

    assert len(common_passwords()) == 10_000
    assert {"123456", "password", "password123", "12345678"} <= common_passwords()


async def test_logins_from_one_address_are_rate_limited(app, client, world):
    app.state.platform.login_by_address.limit = 3
    for _ in range(3):
        assert (await login(client, world.member_a.email)).status_code == 200
    response = await login(client, world.admin_a.email)
    assert_problem(response, 429, "too-many-requests")
    assert "retry-after" in response.headers


async def test_refresh_rotates_the_refresh_token(client, world):
    tokens = (await login(client, world.member_a.email)).json()
    response = await client.post("/api/auth/refresh",
                                 json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    again = await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 200


async def _used_long_ago(session, world, token: str) -> None:
    """Move the token's use back past the grace window (no sleeping in tests)."""
    jti = world.platform.tokens.decode(token, "refresh").jti
    past = utcnow() - timedelta(seconds=world.platform.settings.refresh_grace_s + 1)
    await session.execute(update(RefreshToken).where(RefreshToken.id == jti).values(used_at=past))
    await session.commit()


async def test_refreshing_again_within_the_grace_window_returns_the_same_pair(client, world):
    first = (await login(client, world.member_a.email)).json()["refresh_token"]
    once = await client.post("/api/auth/refresh", json={"refresh_token": first})
    twice = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert once.status_code == twice.status_code == 200, twice.text
    assert twice.json() == once.json()
    profile = await client.get(
        "/api/users/profile", headers={"Authorization": f"Bearer {twice.json()['access_token']}"}
    )
    assert profile.status_code == 200
    onward = await client.post("/api/auth/refresh",
                               json={"refresh_token": twice.json()["refresh_token"]})
    assert onward.status_code == 200, onward.text


async def test_a_retry_within_the_window_after_logout_is_401(client, world):
    first = (await login(client, world.member_a.email)).json()["refresh_token"]
    second = (await client.post("/api/auth/refresh", json={"refresh_token": first})).json()
    await client.post("/api/auth/logout", json={"refresh_token": second["refresh_token"]})
    retry = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert_problem(retry, 401, "invalid-token")


async def test_reusing_an_old_refresh_token_revokes_the_whole_family(client, world, session):
    first = (await login(client, world.member_a.email)).json()["refresh_token"]
    second = (await client.post("/api/auth/refresh", json={"refresh_token": first})).json()
    await _used_long_ago(session, world, first)
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert_problem(reuse, 401, "refresh-token-reused")
    after = await client.post("/api/auth/refresh",
                              json={"refresh_token": second["refresh_token"]})
    assert_problem(after, 401, "invalid-token")


async def test_logout_revokes_the_refresh_token(client, world):
    tokens = (await login(client, world.member_a.email)).json()
    out = await client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    response = await client.post("/api/auth/refresh",
                                 json={"refresh_token": tokens["refresh_token"]})
    assert_problem(response, 401, "invalid-token")


async def test_logout_ends_the_sessions_access_tokens_at_once(client, world):
    tokens = (await login(client, world.member_a.email)).json()
    other = (await login(client, world.member_a.email)).json()
    rotated = (await client.post("/api/auth/refresh",
                                 json={"refresh_token": tokens["refresh_token"]})).json()
    await client.post("/api/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    for ended in (tokens, rotated):  # every access token of the session, before and after
        response = await client.get("/api/users/profile", headers=_bearer(ended))
        assert_problem(response, 401, "invalid-token")
    still = await client.get("/api/users/profile", headers=_bearer(other))
    assert still.status_code == 200  # another session of the same user goes on


async def test_reusing_a_refresh_token_ends_the_sessions_access_tokens(client, world, session):
    first = (await login(client, world.member_a.email)).json()
    await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    await _used_long_ago(session, world, first["refresh_token"])
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reuse, 401, "refresh-token-reused")
    response = await client.get("/api/users/profile", headers=_bearer(first))
    assert_problem(response, 401, "invalid-token")


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_no_token_is_401_with_www_authenticate(client):
    response = await client.get("/api/users/profile")
    assert_problem(response, 401, "missing-token")
    assert response.headers["www-authenticate"] == "Bearer"


def _forge(world, **overrides) -> str:
    now = utcnow()
    claims = {
        "sub": str(world.member_a.id), "jti": str(uuid.uuid4()), "typ": "access",
        "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp()),
        "iss": "nubo", "aud": "nubo-api", "ver": 0,
    }
    key = overrides.pop("key", world.platform.settings.signing_key)
    algorithm = overrides.pop("algorithm", "HS256")
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize(
    "forgery",
    [
        {"key": "another-key-of-sufficient-length-for-hmac-000"},
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"exp": 1_000_000},
        {"typ": "refresh"},
        {"jti": None},
        {"sub": str(uuid.uuid4())},
        {"algorithm": "HS512"},
    ],
    ids=["wrong-key", "wrong-audience", "wrong-issuer", "expired", "refresh-as-access",
         "no-jti", "unknown-subject", "other-algorithm"],
)
async def test_forged_or_misused_access_tokens_are_401(client, world, forgery):
    token = _forge(world, **forgery)
    response = await client.get("/api/users/profile", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "invalid-token")


async def test_alg_none_token_is_401(client, world):
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = _forge(world).split(".")[1]
    response = await client.get(
        "/api/users/profile", headers={"Authorization": f"Bearer {header}.{body}."}
    )
    assert_problem(response, 401, "invalid-token")


async def test_a_real_refresh_token_is_not_an_access_token(client, world):
    tokens = (await login(client, world.member_a.email)).json()
    response = await client.get(
        "/api/users/profile", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert_problem(response, 401, "invalid-token")


async def test_deleting_a_user_kills_their_tokens_at_once(client, world):
    headers = world.headers("member_a")
    assert (await client.get("/api/users/profile", headers=headers)).status_code == 200
    deleted = await client.delete(f"/api/users/{world.member_a.id}",
                                  headers=world.headers("admin_a"))
    assert deleted.status_code == 204
    assert_problem(await client.get("/api/users/profile", headers=headers), 401, "invalid-token")


def test_token_codec_round_trip_keeps_family_and_version():
    codec = TokenCodec("k" * 40, "nubo", "nubo-api")
    family, sub = uuid.uuid4(), uuid.uuid4()
    token, _ = codec.encode(sub=sub, typ="access", ttl=timedelta(minutes=1), family=family,
                            version=3)
    claims = codec.decode(token, "access")
    assert (claims.sub, claims.fam, claims.ver, claims.typ) == (sub, family, 3, "access")


async def test_operator_can_use_any_route_of_their_role(client, world, session):
    extra = await make_user(session, world.platform, world.platform_account, Role.operator)
    await session.commit()
    response = await client.get("/api/accounts", headers=world.headers("operator"))
    assert response.status_code == 200
    assert extra.account_id == world.platform_account.id


async def test_failed_logins_count_in_every_api_process(
    app, client, world, settings, sessionmaker, engine, connection
):
    # Another process behind the same load balancer: its own app, the same database.
    from httpx import ASGITransport, AsyncClient

    from tests.conftest import app_in_test_transaction

    for _ in range(10):
        assert_problem(await login(client, world.member_a.email, "wrong"), 401,
                       "invalid-credentials")
    other = app_in_test_transaction(settings, sessionmaker, engine, connection)
    transport = ASGITransport(app=other, client=("198.51.100.9", 40000))
    async with AsyncClient(transport=transport, base_url="http://nubo.test") as elsewhere:
        response = await login(elsewhere, world.member_a.email)
    assert_problem(response, 429, "too-many-requests")


async def test_a_successful_login_clears_the_failures_of_its_email(client, world):
    for _ in range(9):
        await login(client, world.member_a.email, "wrong")
    assert (await login(client, world.member_a.email)).status_code == 200
    for _ in range(9):
        await login(client, world.member_a.email, "wrong")
    assert (await login(client, world.member_a.email)).status_code == 200
