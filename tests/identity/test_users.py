"""Users: creation by role, lookups scoped to the account, soft delete, profile edits."""

from __future__ import annotations

from nubo.models import Role
from tests.fixtures.world import PASSWORD, make_user
from tests.identity.test_auth import assert_problem, login


def new_user(account_id, role="member", email="new.user@example.com"):
    return {"account_id": str(account_id), "name": "New User", "email": email,
            "password": PASSWORD, "role": role}


async def test_admin_creates_a_member_in_their_own_account(client, world):
    response = await client.post("/api/users", json=new_user(world.account_a.id),
                                 headers=world.headers("admin_a"))
    assert response.status_code == 201
    assert response.json()["account_id"] == str(world.account_a.id)
    assert (await login(client, "new.user@example.com")).status_code == 200


async def test_admin_without_account_id_creates_in_their_own_account(client, world):
    body = new_user(world.account_a.id)
    del body["account_id"]
    response = await client.post("/api/users", json=body, headers=world.headers("admin_a"))
    assert response.json()["account_id"] == str(world.account_a.id)


async def test_member_cannot_create_users_403(client, world):
    response = await client.post("/api/users", json=new_user(world.account_a.id),
                                 headers=world.headers("member_a"))
    assert_problem(response, 403, "admin-required")


async def test_admin_creating_in_another_account_is_404(client, world):
    response = await client.post("/api/users", json=new_user(world.account_a.id),
                                 headers=world.headers("admin_b"))
    assert_problem(response, 404, "not-found")


async def test_an_operator_cannot_be_created_inside_a_customer_account(client, world):
    response = await client.post("/api/users", json=new_user(world.account_a.id, "operator"),
                                 headers=world.headers("operator"))
    assert_problem(response, 409, "operator-outside-platform")
    assert "platform account only" in response.json()["detail"]
    assert (await login(client, "new.user@example.com")).status_code == 401


async def test_only_operators_create_operators(client, world):
    by_admin = await client.post("/api/users", json=new_user(world.account_a.id, "operator"),
                                 headers=world.headers("admin_a"))
    assert_problem(by_admin, 403, "operator-required")
    by_operator = await client.post(
        "/api/users", json=new_user(world.platform_account.id, "operator"),
        headers=world.headers("operator"),
    )
    assert by_operator.status_code == 201
    assert by_operator.json()["role"] == "operator"


async def test_creating_a_user_with_a_live_email_is_409(client, world):
    response = await client.post(
        "/api/users", json=new_user(world.account_a.id, email=world.admin_b.email.upper()),
        headers=world.headers("admin_a"),
    )
    assert_problem(response, 409, "email-taken")


async def test_user_by_email_is_case_insensitive(client, world):
    response = await client.get(f"/api/users/email/{world.member_a.email.upper()}",
                                headers=world.headers("member_a"))
    assert response.status_code == 200
    assert response.json()["id"] == str(world.member_a.id)


async def test_user_of_another_account_by_email_is_404_like_an_unknown_one(client, world):
    other = await client.get(f"/api/users/email/{world.admin_b.email}",
                             headers=world.headers("admin_a"))
    unknown = await client.get("/api/users/email/ghost@example.com",
                               headers=world.headers("admin_a"))
    assert_problem(other, 404, "not-found")
    assert other.json()["detail"] == unknown.json()["detail"]


async def test_users_of_account_are_paged_with_an_opaque_cursor(client, world, session):
    for _ in range(3):
        await make_user(session, world.platform, world.account_a)
    await session.commit()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.get(f"/api/users/account/{world.account_a.id}", params=params,
                                headers=world.headers("admin_a"))
        assert page.status_code == 200
        body = page.json()
        seen += [u["id"] for u in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5  # admin, member and three more, none twice


async def test_limit_outside_1_to_200_is_422(client, world):
    for limit in (0, 201):
        response = await client.get(f"/api/users/account/{world.account_a.id}",
                                    params={"limit": limit}, headers=world.headers("admin_a"))
        assert_problem(response, 422, "validation-error")


async def test_a_garbage_cursor_is_422(client, world):
    response = await client.get(f"/api/users/account/{world.account_a.id}",
                                params={"cursor": "not-a-cursor"}, headers=world.headers("admin_a"))
    assert_problem(response, 422, "invalid-cursor")


async def test_the_last_admin_of_an_account_cannot_be_deleted_409(client, world):
    response = await client.delete(f"/api/users/{world.admin_a.id}",
                                   headers=world.headers("admin_a"))
    assert_problem(response, 409, "last-admin")


async def test_an_admin_with_another_admin_beside_can_be_deleted(client, world, session):
    await make_user(session, world.platform, world.account_a, Role.admin)
    await session.commit()
    response = await client.delete(f"/api/users/{world.admin_a.id}",
                                   headers=world.headers("operator"))
    assert response.status_code == 204


async def test_deleted_users_disappear_from_lookups(client, world):
    await client.delete(f"/api/users/{world.member_a.id}", headers=world.headers("admin_a"))
    response = await client.get(f"/api/users/email/{world.member_a.email}",
                                headers=world.headers("admin_a"))
    assert_problem(response, 404, "not-found")


async def test_profile_edit_changes_name_and_email(client, world):
    response = await client.patch("/api/users/edit", json={"name": "Renamed",
                                                           "email": "Renamed@Example.com",
                                                           "current_password": PASSWORD},
                                  headers=world.headers("member_a"))
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["email"] == "renamed@example.com"
    assert response.json()["tokens"] is None


async def test_email_change_needs_the_current_password(client, world):
    missing = await client.patch("/api/users/edit", json={"email": "thief@example.com"},
                                 headers=world.headers("member_a"))
    assert_problem(missing, 422, "current-password-required")
    assert "change the email" in missing.json()["detail"]
    wrong = await client.patch(
        "/api/users/edit", json={"email": "thief@example.com", "current_password": "nope-nope"},
        headers=world.headers("member_a"),
    )
    assert_problem(wrong, 403, "wrong-password")
    profile = await client.get("/api/users/profile", headers=world.headers("member_a"))
    assert profile.json()["email"] == world.member_a.email


async def test_a_name_change_alone_needs_no_password(client, world):
    response = await client.patch("/api/users/edit", json={"name": "Renamed"},
                                  headers=world.headers("member_a"))
    assert response.status_code == 200 and response.json()["name"] == "Renamed"


async def test_an_empty_or_unchanged_edit_changes_nothing(client, world):
    before = (await client.get("/api/users/profile", headers=world.headers("member_a"))).json()
    for body in ({}, {"name": before["name"], "email": before["email"]}):
        response = await client.patch("/api/users/edit", json=body,
                                      headers=world.headers("member_a"))
        assert response.status_code == 200, response.text
        assert response.json()["updated_at"] == before["updated_at"]


async def test_bad_json_on_profile_edit_is_invalid_json_as_on_login(client, world):
    headers = {**world.headers("member_a"), "Content-Type": "application/json"}
    edit = await client.patch("/api/users/edit", content=b'{"name": ', headers=headers)
    assert_problem(edit, 422, "invalid-json")
    assert "JSON decode error" not in edit.text
    login_bad = await client.post("/api/auth/login", content=b'{"email": ',
                                  headers={"Content-Type": "application/json"})
    assert_problem(login_bad, 422, "invalid-json")


async def test_profile_edit_to_an_email_in_use_is_409(client, world):
    response = await client.patch("/api/users/edit", json={"email": world.admin_b.email,
                                                           "current_password": PASSWORD},
                                  headers=world.headers("member_a"))
    assert_problem(response, 409, "email-taken")


async def test_profile_edit_refuses_role_and_account_fields(client, world):
    for field, value in (("role", "operator"), ("account_id", str(world.account_b.id))):
        response = await client.patch("/api/users/edit", json={field: value},
                                      headers=world.headers("member_a"))
        assert_problem(response, 422, "validation-error")


async def test_new_password_needs_the_current_one(client, world):
    missing = await client.patch("/api/users/edit", json={"password": "brand-new-pass"},
                                 headers=world.headers("member_a"))
    assert_problem(missing, 422, "current-password-required")
    wrong = await client.patch(
        "/api/users/edit", json={"password": "brand-new-pass", "current_password": "nope-nope"},
        headers=world.headers("member_a"),
    )
    assert_problem(wrong, 403, "wrong-password")


async def test_password_change_ends_every_other_session_and_keeps_the_caller_signed_in(
    client, world
):
    this = (await login(client, world.member_a.email)).json()
    other = (await login(client, world.member_a.email)).json()
    response = await client.patch(
        "/api/users/edit", json={"password": "brand-new-pass", "current_password": PASSWORD},
        headers={"Authorization": f"Bearer {this['access_token']}"},
    )
    assert response.status_code == 200
    fresh = response.json()["tokens"]
    for tokens in (this, other):  # every access and refresh token minted before the change dies
        stale = await client.get("/api/users/profile",
                                 headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert stale.status_code == 401
        refreshed = await client.post("/api/auth/refresh",
                                      json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 401
    still_in = await client.get("/api/users/profile",
                                headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert still_in.status_code == 200
    renewed = await client.post("/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert renewed.status_code == 200
    assert (await login(client, world.member_a.email, "brand-new-pass")).status_code == 200
