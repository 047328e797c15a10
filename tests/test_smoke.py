async def test_health_is_ok(client):
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_the_database(client):
    response = await client.get("/api/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


async def test_profile_of_world_admin(client, world):
    response = await client.get("/api/users/profile", headers=world.headers("admin_a"))
    assert response.status_code == 200
    assert response.json()["email"] == world.admin_a.email
