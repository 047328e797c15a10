"""`nubo billing close-month`: every account with something to bill gets its invoice."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from typer.testing import CliRunner

from nubo.cli import app as cli
from nubo.marketplace.closing import close_month
from nubo.models import Invoice
from tests.fixtures.world import make_account
from tests.marketplace.factories import make_dataset, make_purchase, make_subscription

MONTH = "2026-05"


def at(day: int, month: int = 5) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


async def test_close_month_invoices_each_account_once(world, session, sessionmaker):
    dataset = await make_dataset(session, world.platform_account, price_minor=1000)
    await make_subscription(session, world.account_a, dataset, started_at=at(3))
    await make_purchase(session, world.account_b, dataset, at=at(9))
    idle = await make_account(session)
    await make_purchase(session, idle, dataset, at=at(9, month=4))  # another month
    await make_subscription(session, world.platform_account, dataset, started_at=at(1))
    await session.commit()
    seen: list[int] = []
    result = await close_month(sessionmaker, MONTH, concurrency=1, on_start=seen.append)
    assert (result.accounts, result.created, result.skipped, result.failed) == (2, 2, 0, {})
    assert seen == [2] and result.totals_minor == {"BRL": 2000}
    invoices = (await session.execute(select(Invoice).where(Invoice.month == MONTH))).scalars()
    assert sorted(i.account_id for i in invoices) == sorted(
        [world.account_a.id, world.account_b.id]
    )
    again = await close_month(sessionmaker, MONTH, concurrency=1)
    assert (again.accounts, again.created) == (0, 0)


def test_cli_close_month(tmp_path, monkeypatch):
    monkeypatch.setenv("NUBO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NUBO_DATABASE_URL", raising=False)
    runner = CliRunner()
    bad = runner.invoke(cli, ["billing", "close-month", "2026-5"])
    assert bad.exit_code == 2
    ok = runner.invoke(cli, ["billing", "close-month", MONTH])
    assert ok.exit_code == 0, ok.output
    assert "0 invoices created" in ok.output


async def test_careful_path_and_failures(world, session, sessionmaker):
    from nubo.marketplace import closing, invoicing

    brl = await make_dataset(session, world.platform_account, price_minor=1000)
    usd = await make_dataset(session, world.platform_account, price_minor=700, currency="USD")
    mixed = await make_account(session)
    await make_subscription(session, world.account_a, brl, started_at=at(3))
    await make_subscription(session, world.account_b, brl, started_at=at(3))
    await make_subscription(session, mixed, brl, started_at=at(3))
    await make_subscription(session, mixed, usd, started_at=at(3))
    await invoicing.build_for_account(session, world.account_b.id, MONTH)
    await session.commit()
    ids = [world.account_a.id, world.account_b.id, mixed.id]
    created, skipped, failed = await closing._careful_batch(sessionmaker, MONTH, ids, False)
    assert [i.account_id for i in created] == [world.account_a.id] and skipped == 1
    assert list(failed) == [str(mixed.id)]
    numbers = (await session.execute(select(Invoice.number).where(Invoice.month == MONTH)
                                     .order_by(Invoice.number))).scalars().all()
    assert numbers == ["INV-202605-000001", "INV-202605-000002"]
    result = await close_month(sessionmaker, MONTH, concurrency=1)
    assert (result.accounts, result.created, list(result.failed)) == (1, 0, [str(mixed.id)])
