"""The account's own page: its details and users, as admins and members see and change them
(httpx, both databases)."""

from __future__ import annotations

from sqlalchemy import select

from nubo.models import User
from tests.fixtures.world import PASSWORD
from tests.web.helpers import browser_session, post_form


async def _signed_in(client, session, world, who="admin_a"):
    cookie, _ = await browser_session(session, world.platform, getattr(world, who))
    client.cookies.set("nubo_session", cookie)


async def _live(session, user_id) -> bool:
    user = await session.get(User, user_id, populate_existing=True)
    return user is not None and user.deleted_at is None


async def test_an_admin_sees_the_details_and_users_of_the_account(client, session, world):
    await _signed_in(client, session, world)
    page = await client.get("/account")
    assert page.status_code == 200
    assert "<h1>Minha conta</h1>" in page.text
    assert world.account_a.email in page.text
    assert world.member_a.email in page.text and world.admin_b.email not in page.text
    assert 'action="/account/users"' in page.text


async def test_an_admin_adds_a_member(client, session, world):
    await _signed_in(client, session, world)
    response = await post_form(client, "/account", "/account/users", {
        "name": "Bia Costa", "email": "bia@example.com", "password": PASSWORD, "role": "member"})
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "Usuário adicionado." in page.text and "bia@example.com" in page.text
    added = await session.scalar(select(User).where(User.email == "bia@example.com"))
    assert added.account_id == world.account_a.id and added.role.value == "member"


async def test_an_admin_cannot_add_an_operator_from_the_account_page(client, session, world):
    await _signed_in(client, session, world)
    await post_form(client, "/account", "/account/users", {
        "name": "Op", "email": "op@example.com", "password": PASSWORD, "role": "operator"})
    added = await session.scalar(select(User).where(User.email == "op@example.com"))
    assert added.role.value == "member"


async def test_removing_a_member_and_keeping_the_last_admin_with_a_message(client, session, world):
    await _signed_in(client, session, world)
    removed = await post_form(client, "/account", f"/account/users/{world.member_a.id}/delete", {})
    assert removed.status_code == 303
    assert not await _live(session, world.member_a.id)
    kept = await post_form(client, "/account", f"/account/users/{world.admin_a.id}/delete", {})
    assert kept.status_code == 409
    assert "Este é o último administrador da conta" in kept.text
    assert "<h1>Minha conta</h1>" in kept.text
    assert await _live(session, world.admin_a.id)


async def test_a_member_reads_the_page_but_cannot_change_it(client, session, world):
    await _signed_in(client, session, world, "member_a")
    page = await client.get("/account")
    assert page.status_code == 200 and 'action="/account/users"' not in page.text
    response = await post_form(client, "/account", "/account/users", {
        "name": "X", "email": "x@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert "<h1>Não permitido</h1>" in response.text


async def test_another_accounts_user_is_the_404_page(client, session, world):
    await _signed_in(client, session, world, "admin_b")
    response = await post_form(client, "/account", f"/account/users/{world.member_a.id}/delete", {})
    assert response.status_code == 404
    assert "<h1>Página não encontrada</h1>" in response.text
    assert await _live(session, world.member_a.id)


async def test_the_page_speaks_english_when_asked(client, session, world):
    await _signed_in(client, session, world)
    page = await client.get("/account", headers={"Accept-Language": "en"})
    assert "<h1>My account</h1>" in page.text and "Add a user" in page.text
