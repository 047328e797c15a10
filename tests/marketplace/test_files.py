"""Dataset data files: streamed upload by operators, download for entitled accounts only."""

from __future__ import annotations

from datetime import timedelta

from nubo.kit.types import utcnow
from nubo.models import SubscriptionStatus
from tests.marketplace.factories import make_dataset, make_purchase, make_subscription

DATA = b"station,date,mm\n" + b"A,2026-03-01,1.5\n" * 5000


async def _chunks():
    for i in range(0, len(DATA), 8192):
        yield DATA[i : i + 8192]


async def _upload(client, world, dataset, content=None, **params):
    return await client.post(
        f"/api/datasets/{dataset.id}/file",
        content=content if content is not None else _chunks(),
        params={"filename": "rain.csv", **params},
        headers={**world.headers("operator"), "Content-Type": "text/csv"},
    )


async def test_upload_then_download_by_entitled_accounts(client, world, session, app):
    dataset = await make_dataset(session, world.platform_account)
    await make_purchase(session, world.account_a, dataset)
    await session.commit()
    response = await _upload(client, world, dataset)
    assert response.status_code == 200, response.text
    file = response.json()["file"]
    assert file["size"] == len(DATA) and file["name"] == "rain.csv"
    assert file["content_type"] == "text/csv" and len(file["sha256"]) == 64

    download = await client.get(f"/api/datasets/{dataset.id}/download",
                                headers=world.headers("member_a"))
    assert download.status_code == 200
    assert download.content == DATA
    assert download.headers["content-type"].startswith("text/csv")
    assert 'filename="rain.csv"' in download.headers["content-disposition"]
    assert (await client.get(f"/api/datasets/{dataset.id}/download",
                             headers=world.headers("operator"))).status_code == 200


async def test_a_catalogue_dataset_not_bought_is_403_not_entitled_with_what_to_do(
    client, world, session
):
    dataset = await make_dataset(session, world.platform_account)
    await make_purchase(session, world.account_a, dataset)
    await session.commit()
    assert (await _upload(client, world, dataset)).status_code == 200
    response = await client.get(f"/api/datasets/{dataset.id}/download",
                                headers=world.headers("admin_b"))
    assert response.status_code == 403
    assert response.json()["code"] == "not-entitled"
    assert "buy" in response.json()["detail"] and "subscribe" in response.json()["detail"]


async def test_deleted_or_unknown_datasets_stay_404_for_accounts_not_entitled(
    client, world, session
):
    dataset = await make_dataset(session, world.platform_account)
    await make_purchase(session, world.account_a, dataset)
    await session.commit()
    assert (await _upload(client, world, dataset)).status_code == 200
    await client.delete(f"/api/datasets/{dataset.id}", headers=world.headers("operator"))
    gone = await client.get(f"/api/datasets/{dataset.id}/download",
                            headers=world.headers("admin_b"))
    assert gone.status_code == 404 and gone.json()["code"] == "not-found"
    kept = await client.get(f"/api/datasets/{dataset.id}/download",
                            headers=world.headers("member_a"))
    assert kept.status_code == 200
    unknown = await client.get("/api/datasets/00000000-0000-0000-0000-000000000000/download",
                               headers=world.headers("admin_b"))
    assert unknown.status_code == 404


async def test_subscription_entitles_only_while_active(client, world, session):
    live = await make_dataset(session, world.platform_account)
    ended = await make_dataset(session, world.platform_account)
    await make_subscription(session, world.account_a, live)
    await make_subscription(session, world.account_a, ended,
                            started_at=utcnow() - timedelta(days=60),
                            status=SubscriptionStatus.canceled,
                            ends_at=utcnow() - timedelta(days=1))
    await session.commit()
    for dataset in (live, ended):
        assert (await _upload(client, world, dataset, content=b"x,y\n1,2\n")).status_code == 200
    headers = world.headers("admin_a")
    assert (await client.get(f"/api/datasets/{live.id}/download", headers=headers)
            ).status_code == 200
    assert (await client.get(f"/api/datasets/{ended.id}/download", headers=headers)
            ).status_code == 403


async def test_no_file_unknown_dataset_and_deleted_dataset(client, world, session):
    dataset = await make_dataset(session, world.platform_account)
    await make_purchase(session, world.account_a, dataset)
    await session.commit()
    headers = world.headers("admin_a")
    empty = await client.get(f"/api/datasets/{dataset.id}/download", headers=headers)
    assert empty.status_code == 404 and empty.json()["code"] == "no-data-file"
    assert (await _upload(client, world, dataset, content=b"a\n")).status_code == 200
    # Deleted: gone from the catalogue, but a buyer keeps access to what they bought.
    await client.delete(f"/api/datasets/{dataset.id}", headers=world.headers("operator"))
    assert (await client.get(f"/api/datasets/{dataset.id}", headers=headers)).status_code == 404
    kept = await client.get(f"/api/datasets/{dataset.id}/download", headers=headers)
    assert kept.status_code == 200 and kept.content == b"a\n"
    assert (await _upload(client, world, dataset, content=b"b\n")).status_code == 404


async def test_replacing_deletes_the_old_object_and_limits_apply(client, world, session, app):
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    store = app.state.store
    first = await _upload(client, world, dataset, content=b"one\n")
    from sqlalchemy import select

    from nubo.models import Dataset

    async def current_key() -> str:
        stmt = select(Dataset.file_key).where(Dataset.id == dataset.id)
        return (await session.execute(stmt)).scalar_one()

    assert first.status_code == 200
    old_key = await current_key()
    assert await store.head(old_key) == 4
    assert (await _upload(client, world, dataset, content=b"two!\n")).status_code == 200
    new_key = await current_key()
    assert new_key != old_key and await store.head(new_key) == 5
    assert await store.head(old_key) is None
    app.state.settings.max_upload_bytes = 10
    too_big = await _upload(client, world, dataset, content=b"x" * 11)
    assert too_big.status_code == 413
    assert await current_key() == new_key
    for who in ("admin_a", "member_a"):
        forbidden = await client.post(f"/api/datasets/{dataset.id}/file", content=b"x",
                                      headers=world.headers(who))
        assert forbidden.status_code == 403


async def test_a_multipart_upload_stores_the_file_byte_for_byte(client, world, session):
    dataset = await make_dataset(session, world.platform_account)
    await make_purchase(session, world.account_a, dataset)
    await session.commit()
    data = bytes(range(256)) * 19 + b"\r\n--not-a-boundary\r\n" * 3  # binary, CRLFs inside
    r = await client.post(f"/api/datasets/{dataset.id}/file",
                          files={"file": ("rain.parquet", data, "application/vnd.apache.parquet")},
                          headers=world.headers("operator"))
    assert r.status_code == 200, r.text
    file = r.json()["file"]
    assert file["size"] == len(data) and file["name"] == "rain.parquet"
    assert file["content_type"] == "application/vnd.apache.parquet"
    download = await client.get(f"/api/datasets/{dataset.id}/download",
                                headers=world.headers("member_a"))
    assert download.content == data


async def test_an_empty_file_is_422_either_way(client, world, session, app):
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    raw = await _upload(client, world, dataset, content=b"")
    form = await client.post(f"/api/datasets/{dataset.id}/file", files={"file": ("e.csv", b"")},
                             headers=world.headers("operator"))
    for r in (raw, form):
        assert r.status_code == 422 and r.json()["code"] == "empty-file", r.text
    shown = await client.get(f"/api/datasets/{dataset.id}", headers=world.headers("operator"))
    assert shown.json()["file"] is None
