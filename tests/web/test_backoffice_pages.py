"""The back office's pages as operators use them, and as nobody else may (httpx, both
databases)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from nubo.kit import jobs
from nubo.kit.types import utcnow
from nubo.marketplace import closing_runs
from nubo.marketplace.months import month_of
from nubo.marketplace.tasks import close_month
from nubo.models import Account, BillingRun, Dataset, Invoice, InvoiceStatus, Role, User
from tests.fixtures.world import PASSWORD
from tests.marketplace.factories import make_dataset, make_purchase, make_subscription
from tests.web.helpers import ORIGIN, browser_session, post_form

DATASET = {"name": "Chuva em São Paulo", "description": "Pluviômetros horários",
           "location": "São Paulo, SP, BR", "price": "1234.56", "currency": "BRL",
           "category": "weather", "format": "csv"}


async def _signed_in(client, session, world, who="operator") -> str:
    cookie, csrf = await browser_session(session, world.platform, getattr(world, who))
    client.cookies.set("nubo_session", cookie)
    return csrf


@pytest.mark.parametrize("path", ["/backoffice/accounts", "/backoffice/datasets",
                                  "/backoffice/billing"])
async def test_a_member_or_admin_gets_the_403_page(client, session, world, path):
    await _signed_in(client, session, world, "admin_a")
    response = await client.get(path)
    assert response.status_code == 403
    assert "<h1>Não permitido</h1>" in response.text


async def test_only_operators_see_the_back_office_in_the_menu(client, session, world):
    await _signed_in(client, session, world, "admin_a")
    assert 'href="/backoffice/accounts"' not in (await client.get("/account")).text
    await _signed_in(client, session, world)
    assert 'href="/backoffice/accounts"' in (await client.get("/account")).text


async def test_accounts_are_searched_by_name_or_email(client, session, world):
    await _signed_in(client, session, world)
    by_name = (await client.get("/backoffice/accounts", params={"q": "alpha"})).text
    assert "Alpha Air" in by_name and "Beta Data" not in by_name
    by_email = (await client.get("/backoffice/accounts",
                                 params={"q": world.account_b.email.upper()})).text
    assert "Beta Data" in by_email and "Alpha Air" not in by_email
    assert "Nenhuma conta encontrada." in (
        await client.get("/backoffice/accounts", params={"q": "100%_"})).text


async def test_an_operator_creates_edits_and_deletes_an_account(client, session, world):
    await _signed_in(client, session, world)
    created = await post_form(client, "/backoffice/accounts", "/backoffice/accounts",
                              {"name": "Gama Dados", "email": "gama@example.com"})
    assert created.status_code == 303
    page = await client.get(created.headers["location"])
    assert "Conta criada." in page.text
    assert "suas assinaturas em vigor terminam agora" in page.text  # stated before confirming
    account = await session.scalar(select(Account).where(Account.email == "gama@example.com"))
    edited = await post_form(client, f"/backoffice/accounts/{account.id}",
                             f"/backoffice/accounts/{account.id}",
                             {"name": "Gama", "email": "gama@example.com", "status": "disabled"})
    assert edited.status_code == 303
    deleted = await post_form(client, f"/backoffice/accounts/{account.id}",
                              f"/backoffice/accounts/{account.id}/delete", {"confirm": "yes"})
    assert deleted.headers["location"] == "/backoffice/accounts?done=deleted"
    await session.refresh(account)
    assert account.name == "Gama" and account.deleted_at is not None
    assert (await client.get(f"/backoffice/accounts/{account.id}")).status_code == 404


async def test_users_by_account_and_operators_only_in_the_platform_account(
    client, session, world
):
    await _signed_in(client, session, world)
    page = f"/backoffice/accounts/{world.account_a.id}"
    shown = (await client.get(page)).text
    assert world.member_a.email in shown and world.admin_b.email not in shown
    assert '<option value="operator"' not in shown
    refused = await post_form(client, page, f"{page}/users", {
        "name": "Op", "email": "op@example.com", "password": PASSWORD, "role": "operator"})
    assert refused.status_code == 409
    assert "Operadores pertencem apenas à conta da plataforma." in refused.text
    platform = f"/backoffice/accounts/{world.platform_account.id}"
    added = await post_form(client, platform, f"{platform}/users", {
        "name": "Op", "email": "op@example.com", "password": PASSWORD, "role": "operator"})
    assert added.status_code == 303
    user = await session.scalar(select(User).where(User.email == "op@example.com"))
    assert user.role is Role.operator and user.account_id == world.platform_account.id


async def test_removing_a_user_through_another_accounts_page_is_404(client, session, world):
    await _signed_in(client, session, world)
    page = f"/backoffice/accounts/{world.account_b.id}"
    response = await post_form(client, page, f"{page}/users/{world.member_a.id}/delete", {})
    assert response.status_code == 404


async def test_an_operator_creates_edits_and_deletes_a_dataset(client, session, world):
    await _signed_in(client, session, world)
    created = await post_form(client, "/backoffice/datasets", "/backoffice/datasets", DATASET)
    assert created.status_code == 303
    page = await client.get(created.headers["location"])
    assert "R$\xa01.234,56" in (await client.get("/backoffice/datasets")).text
    assert "Envie o arquivo de dados abaixo." in page.text
    dataset = await session.scalar(select(Dataset).where(Dataset.name == DATASET["name"]))
    url = f"/backoffice/datasets/{dataset.id}"
    bad = await post_form(client, url, url, {**DATASET, "price": "12.345"})
    assert bad.status_code == 422 and "O preço não é válido para a moeda." in bad.text
    saved = await post_form(client, url, url, {**DATASET, "price": "99.90", "category": ""})
    assert saved.status_code == 303
    await session.refresh(dataset)
    assert dataset.price_minor == 9990 and dataset.category is None
    gone = await post_form(client, url, f"{url}/delete", {"confirm": "yes"})
    assert gone.status_code == 303
    await session.refresh(dataset)
    assert dataset.deleted_at is not None


async def test_the_dataset_file_goes_up_with_the_session_and_its_csrf_token(
    client, session, world
):
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    csrf = await _signed_in(client, session, world)
    url = f"/api/datasets/{dataset.id}/file"
    files = {"file": ("chuva.csv", b"station,mm\nA,1\n", "text/csv")}
    refused = await client.post(url, files=files, headers=ORIGIN)
    assert refused.status_code == 403
    response = await client.post(url, params={"filename": "chuva.csv"}, files=files,
                                 headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    assert response.json()["file"]["size"] == 15
    page = (await client.get(f"/backoffice/datasets/{dataset.id}")).text
    assert "chuva.csv" in page and "15 B" in page


async def test_an_admins_session_cannot_upload_a_dataset_file(client, session, world):
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    csrf = await _signed_in(client, session, world, "admin_a")
    response = await client.post(f"/api/datasets/{dataset.id}/file", content=b"x",
                                 headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert response.status_code == 403


async def test_closing_a_month_runs_as_a_job_and_shows_its_invoices(
    app, client, session, sessionmaker, world
):
    dataset = await make_dataset(session, world.platform_account, price_minor=4990)
    await make_subscription(session, world.account_a, dataset)
    await make_purchase(session, world.account_b, dataset)
    await session.commit()
    await _signed_in(client, session, world)
    month = month_of(utcnow())
    started = await post_form(client, "/backoffice/billing", "/backoffice/billing/close",
                              {"month": month})
    assert started.status_code == 303
    run_page = started.headers["location"]
    waiting = (await client.get(run_page)).text
    assert "Aguardando início" in waiting and 'hx-trigger="every 1s"' in waiting
    again = await post_form(client, "/backoffice/billing", "/backoffice/billing/close",
                            {"month": month})
    assert again.status_code == 409 and "Este mês já está sendo fechado." in again.text

    run = await session.scalar(select(BillingRun))
    ctx = jobs.JobContext(settings=app.state.settings, sessionmaker=sessionmaker,
                          store=app.state.store, queue=app.state.jobs)
    await close_month(ctx, run_id=str(run.id), concurrency=1)
    fragment = (await client.get(f"{run_page}/progress")).text
    assert "hx-trigger" not in fragment  # finished: the page stops polling
    assert "Concluído" in fragment and "2 de 2 contas" in fragment
    invoices = (await session.execute(select(Invoice).where(Invoice.month == month))).scalars()
    numbers = [i.number for i in invoices]
    assert len(numbers) == 2 and all(n in fragment for n in numbers)
    assert "R$\xa049,90" in fragment


async def test_a_finished_run_is_not_run_again(app, session, sessionmaker, world):
    run = BillingRun(month="2026-01", status="done", failed={}, totals_minor={})
    session.add(run)
    await session.commit()
    assert await closing_runs.run(sessionmaker, run.id, concurrency=1) is None


async def test_invoices_are_paid_and_voided_from_the_billing_page(client, session, world):
    dataset = await make_dataset(session, world.platform_account)
    await make_subscription(session, world.account_a, dataset)
    await make_subscription(session, world.account_b, dataset)
    await session.commit()
    from nubo.marketplace import invoicing

    month = month_of(utcnow())
    first, _ = await invoicing.build_for_account(session, world.account_a.id, month)
    second, _ = await invoicing.build_for_account(session, world.account_b.id, month)
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get("/backoffice/billing", params={"status": "open"})).text
    assert first.number in page and second.number in page
    paid = await post_form(client, "/backoffice/billing",
                           f"/backoffice/invoices/{first.id}/pay", {"next": "/backoffice/billing"})
    assert paid.headers["location"] == "/backoffice/billing?done=paid"
    voided = await post_form(client, "/backoffice/billing",
                             f"/backoffice/invoices/{second.id}/void", {})
    assert voided.status_code == 303
    twice = await post_form(client, "/backoffice/billing",
                            f"/backoffice/invoices/{second.id}/pay", {})
    assert twice.status_code == 409 and "A fatura não está mais em aberto." in twice.text
    statuses = dict((await session.execute(
        select(Invoice.id, Invoice.status).execution_options(populate_existing=True))).all())
    assert statuses == {first.id: InvoiceStatus.paid, second.id: InvoiceStatus.void}


async def test_transactions_by_account(client, session, world):
    dataset = await make_dataset(session, world.platform_account, name="Ventos")
    await make_purchase(session, world.account_a, dataset)
    await session.commit()
    await _signed_in(client, session, world)
    page = (await client.get(f"/backoffice/accounts/{world.account_a.id}")).text
    assert "Ventos" in page and "Avulsa" in page and "R$\xa049,90" in page
    other = (await client.get(f"/backoffice/accounts/{world.account_b.id}")).text
    assert "Nenhuma compra ainda." in other
    assert await session.scalar(select(func.count()).select_from(BillingRun)) == 0
