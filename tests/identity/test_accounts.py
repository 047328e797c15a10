"""Accounts: operators create and delete, admins edit their own, everyone sees only theirs."""

from __future__ import annotations

from tests.fixtures.world import PASSWORD
from tests.identity.test_auth import assert_problem, login


async def test_operator_creates_an_account(client, world):
    body = {"name": "Gamma", "email": "G@x.example.com"}
    response = await client.post("/api/accounts", json=body, headers=world.headers("operator"))
    assert response.status_code == 201
    assert response.json()["email"] == "g@x.example.com"
    assert response.json()["status"] == "active"


async def test_an_account_email_in_use_is_409(client, world):
    response = await client.post("/api/accounts",
                                 json={"name": "Dup", "email": world.account_a.email},
                                 headers=world.headers("operator"))
    assert_problem(response, 409, "email-taken")


async def test_admin_renames_their_account(client, world):
    response = await client.put(f"/api/accounts/{world.account_a.id}", json={"name": "Alpha 2"},
                                headers=world.headers("admin_a"))
    assert response.status_code == 200
    assert response.json()["name"] == "Alpha 2"


async def test_admin_cannot_change_their_accounts_status(client, world):
    response = await client.put(f"/api/accounts/{world.account_a.id}",
                                json={"status": "disabled"}, headers=world.headers("admin_a"))
    assert_problem(response, 403, "operator-required")


async def test_disabling_an_account_stops_its_users_tokens_and_logins(client, world):
    headers = world.headers("member_a")
    response = await client.put(f"/api/accounts/{world.account_a.id}",
                                json={"status": "disabled"}, headers=world.headers("operator"))
    assert response.status_code == 200
    assert (await client.get("/api/users/profile", headers=headers)).status_code == 401
    assert (await login(client, world.member_a.email)).status_code == 401


async def test_deleting_an_account_locks_out_its_users(client, world):
    tokens = (await login(client, world.admin_a.email)).json()
    response = await client.delete(f"/api/accounts/{world.account_a.id}",
                                   headers=world.headers("operator"))
    assert response.status_code == 204
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/api/users/profile", headers=access)).status_code == 401
    refresh = await client.post("/api/auth/refresh",
                                json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert (await login(client, world.admin_a.email, PASSWORD)).status_code == 401
    lookup = await client.get(f"/api/accounts/email/{world.account_a.email}",
                              headers=world.headers("operator"))
    assert_problem(lookup, 404, "not-found")


async def test_the_platform_account_cannot_be_deleted(client, world):
    response = await client.delete(f"/api/accounts/{world.platform_account.id}",
                                   headers=world.headers("operator"))
    assert_problem(response, 409, "platform-account")


async def test_non_operators_list_only_their_own_account(client, world):
    response = await client.get("/api/accounts", headers=world.headers("member_a"))
    assert [a["id"] for a in response.json()["items"]] == [str(world.account_a.id)]
    everyone = await client.get("/api/accounts", headers=world.headers("operator"))
    ids = {a["id"] for a in everyone.json()["items"]}
    assert {str(world.account_a.id), str(world.account_b.id)} <= ids


async def test_another_accounts_email_lookup_is_404(client, world):
    response = await client.get(f"/api/accounts/email/{world.account_b.email}",
                                headers=world.headers("admin_a"))
    assert_problem(response, 404, "not-found")


async def test_unknown_account_id_is_404_for_operators_too(client, world):
    response = await client.put("/api/accounts/00000000-0000-0000-0000-000000000000",
                                json={"name": "x"}, headers=world.headers("operator"))
    assert_problem(response, 404, "not-found")


async def test_an_empty_account_update_changes_nothing(client, world):
    url = f"/api/accounts/{world.account_a.id}"
    before = (await client.put(url, json={}, headers=world.headers("admin_a"))).json()
    again = await client.put(url, json={"name": before["name"]}, headers=world.headers("admin_a"))
    assert again.status_code == 200
    assert again.json()["updated_at"] == before["updated_at"]


async def test_operators_search_accounts_by_name_or_email(client, world):
    headers = world.headers("operator")
    by_name = await client.get("/api/accounts", params={"q": "ALPHA"}, headers=headers)
    assert [a["name"] for a in by_name.json()["items"]] == ["Alpha Air"]
    by_email = await client.get("/api/accounts", params={"q": world.account_b.email[:12]},
                                headers=headers)
    assert [a["id"] for a in by_email.json()["items"]] == [str(world.account_b.id)]
    wildcard = await client.get("/api/accounts", params={"q": "%"}, headers=headers)
    assert wildcard.json()["items"] == []


async def test_a_search_never_shows_another_account(client, world):
    response = await client.get("/api/accounts", params={"q": "beta"},
                                headers=world.headers("admin_a"))
    assert response.json()["items"] == []
