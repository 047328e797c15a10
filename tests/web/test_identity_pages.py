"""Sign up, sign in, sign out and the profile, as a browser posts them (httpx, both databases)."""

from __future__ import annotations

from sqlalchemy import func, select

from nubo.models import Account, RefreshToken
from tests.fixtures.world import PASSWORD
from tests.web.helpers import ORIGIN, browser_session, csrf_in, post_form

SIGNUP = {"account_name": "Azul Teste", "name": "Ana Lima", "email": "ana@example.com",
          "password": "a-long-password"}


async def test_home_without_a_session_goes_to_sign_in(client):
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F"


async def test_sign_in_page_is_portuguese_by_default(client):
    response = await client.get("/login")
    assert response.status_code == 200
    assert '<html lang="pt-BR">' in response.text
    assert "<h1>Entrar</h1>" in response.text


async def test_accept_language_english_gives_english(client):
    response = await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in response.text
    assert "<h1>Sign in</h1>" in response.text


async def test_signup_creates_the_account_and_signs_in(client, session):
    response = await post_form(client, "/signup", "/signup", SIGNUP)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "nubo_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = await client.get("/")
    assert home.status_code == 200
    assert "Ana Lima" in home.text
    accounts = await session.scalar(select(func.count()).where(Account.email == SIGNUP["email"]))
    assert accounts == 1


async def test_signup_with_an_email_in_use_shows_the_form_again(client, world):
    response = await post_form(client, "/signup", "/signup", {**SIGNUP,
                                                              "email": world.admin_a.email})
    assert response.status_code == 409
    assert "Este e-mail já está em uso." in response.text
    assert 'value="Azul Teste"' in response.text


async def test_login_with_wrong_password_shows_the_form_with_an_error(client, world):
    response = await post_form(client, "/login", "/login",
                               {"email": world.admin_a.email, "password": "wrong-one!"})
    assert response.status_code == 401
    assert "E-mail ou senha incorretos." in response.text
    assert "nubo_session" not in response.headers.get("set-cookie", "")


async def test_login_goes_to_next_but_never_off_site(client, world):
    for target, expected in [("/profile", "/profile"), ("//evil.example", "/"),
                             ("https://evil.example/", "/")]:
        client.cookies.clear()
        response = await post_form(client, "/login", "/login", {
            "email": world.admin_a.email, "password": PASSWORD, "next": target})
        assert response.status_code == 303
        assert response.headers["location"] == expected


async def test_a_form_without_csrf_token_is_403_and_changes_nothing(client, session):
    await client.get("/signup")
    response = await client.post("/signup", data=SIGNUP, headers=ORIGIN)
    assert response.status_code == 403
    assert "<h1>Não permitido</h1>" in response.text
    assert await session.scalar(select(func.count()).where(Account.email == SIGNUP["email"])) == 0


async def test_a_form_from_another_origin_is_403(client, session):
    shown = await client.get("/signup")
    response = await client.post("/signup", data={"csrf_token": csrf_in(shown.text), **SIGNUP},
                                 headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert await session.scalar(select(func.count()).where(Account.email == SIGNUP["email"])) == 0


async def test_sign_out_ends_the_session_family_at_once(client, world, session):
    cookie, csrf = await browser_session(session, world.platform, world.admin_a)
    client.cookies.set("nubo_session", cookie)
    assert (await client.get("/")).status_code == 200
    response = await client.post("/logout", data={"csrf_token": csrf}, headers=ORIGIN)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    client.cookies.set("nubo_session", cookie)  # a copy of the cookie kept by someone
    assert (await client.get("/")).status_code == 303
    revoked = await session.scalar(select(func.count()).where(
        RefreshToken.user_id == world.admin_a.id, RefreshToken.revoked_at.is_(None)))
    assert revoked == 0


async def test_a_deleted_user_is_signed_out_at_once(client, world, session):
    cookie, _ = await browser_session(session, world.platform, world.member_a)
    client.cookies.set("nubo_session", cookie)
    deleted = await client.delete(f"/api/users/{world.member_a.id}",
                                  headers=world.headers("admin_a"))
    assert deleted.status_code == 204
    assert (await client.get("/")).status_code == 303


async def test_password_change_gives_this_browser_a_new_session_and_ends_the_others(
    client, world, session
):
    other, _ = await browser_session(session, world.platform, world.admin_a)
    cookie, csrf = await browser_session(session, world.platform, world.admin_a)
    client.cookies.set("nubo_session", cookie)
    response = await client.post("/profile/password", headers=ORIGIN, data={
        "csrf_token": csrf, "current_password": PASSWORD, "password": "another-long-one"})
    assert response.status_code == 303
    assert response.headers["location"] == "/profile?saved=password"
    assert (await client.get("/profile")).status_code == 200  # the fresh session it was given
    client.cookies.clear()
    client.cookies.set("nubo_session", cookie)
    assert (await client.get("/profile")).status_code == 303  # its old cookie ended with it
    client.cookies.set("nubo_session", other)
    assert (await client.get("/profile")).status_code == 303


async def test_email_change_needs_the_current_password(client, world, session):
    cookie, csrf = await browser_session(session, world.platform, world.admin_a)
    client.cookies.set("nubo_session", cookie)
    wrong = await client.post("/profile/email", headers=ORIGIN, data={
        "csrf_token": csrf, "email": "new@example.com", "current_password": "not-it-at-all"})
    assert wrong.status_code == 403
    assert "A senha atual está incorreta." in wrong.text
    right = await client.post("/profile/email", headers=ORIGIN, data={
        "csrf_token": csrf, "email": "new@example.com", "current_password": PASSWORD})
    assert right.status_code == 303
    assert "new@example.com" in (await client.get("/profile")).text


async def test_language_switch_is_remembered_in_a_cookie(client):
    shown = await client.get("/login")
    response = await client.post("/language", headers=ORIGIN, data={
        "csrf_token": csrf_in(shown.text), "language": "en", "next": "/login"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    page = await client.get("/login", headers={"Accept-Language": "pt-BR"})
    assert '<html lang="en">' in page.text
