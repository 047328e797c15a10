"""What account admins and operators do in the panel, in Chromium against a live
`nubo serve`: in Portuguese (the default) and in English."""

from __future__ import annotations

import re
import uuid

import httpx

from nubo.kit.types import utcnow
from nubo.marketplace.months import month_of
from tests.web.conftest import check_accessibility, create_operator, snapshot

PASSWORD = "a-long-password"


def _email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:6]}@example.com"


async def _sign_up(page, organisation: str, name: str) -> str:
    from playwright.async_api import expect

    email = _email(name.split()[0].lower())
    await page.goto("/signup")
    await page.get_by_label("Organização").fill(organisation)
    await page.get_by_label("Seu nome").fill(name)
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha (pelo menos 8 caracteres)").fill(PASSWORD)
    await page.get_by_role("button", name="Criar conta").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Frota")
    return email


async def _sign_in(page, email: str) -> None:
    from playwright.async_api import expect

    await page.goto("/login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Senha").fill(PASSWORD)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", level=1)).not_to_have_text("Entrar")


async def _sign_out(page) -> None:
    await page.get_by_role("button", name="Sair").click()


async def _as_operator(page, live_server: str) -> None:
    email = _email("olga")
    create_operator(live_server, email, PASSWORD)
    await _sign_in(page, email)


async def test_an_admin_adds_a_member_who_may_not_open_the_back_office_then_removes_them(page):
    from playwright.async_api import expect

    admin = await _sign_up(page, "Táxi Aéreo Sul", "Rita Souza")
    await page.get_by_role("link", name="Minha conta").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Minha conta")
    await check_accessibility(page)
    member = _email("joao")
    add = page.locator("form[action='/account/users']")
    await add.get_by_label("Nome").fill("João Pires")
    await add.get_by_label("E-mail").fill(member)
    await add.get_by_label("Primeira senha (pelo menos 8 caracteres)").fill(PASSWORD)
    await add.get_by_label("Papel").select_option("member")
    await add.get_by_role("button", name="Adicionar usuário").click()
    await expect(page.get_by_role("status")).to_have_text("Usuário adicionado.")
    await expect(page.get_by_role("row", name=re.compile("João Pires"))).to_contain_text("Membro")
    await check_accessibility(page)

    await _sign_out(page)
    await _sign_in(page, member)
    await page.goto("/backoffice/accounts")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Não permitido")
    await check_accessibility(page)
    await page.goto("/account")
    await expect(page.get_by_role("button", name="Adicionar usuário")).to_have_count(0)
    await _sign_out(page)

    await _sign_in(page, admin)
    await page.goto("/account")
    await page.get_by_role("button", name="Remover Rita Souza").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Este é o último administrador da conta: adicione outro antes.")
    await page.get_by_role("button", name="Remover João Pires").click()
    await expect(page.get_by_role("status")).to_have_text("Usuário removido.")
    await expect(page.get_by_role("row", name=re.compile("João Pires"))).to_have_count(0)

    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    await expect(page.get_by_role("button", name="Add user")).to_be_visible()
    await check_accessibility(page)


async def test_an_operator_creates_a_dataset_and_uploads_its_file_with_progress(
    page, live_server, tmp_path
):
    from playwright.async_api import expect

    await _as_operator(page, live_server)
    await page.get_by_role("link", name="Retaguarda").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Contas")
    await check_accessibility(page)
    await page.get_by_role("link", name="Nubo operators").click()
    await expect(page.get_by_role("row", name=re.compile("Olga Operadora"))).to_contain_text(
        "Operador")
    await check_accessibility(page)
    await page.get_by_role("link", name="Conjuntos de dados").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Conjuntos de dados")
    await check_accessibility(page)
    name = f"Chuva {uuid.uuid4().hex[:6]}"
    create = page.locator("form[method='post'][action='/backoffice/datasets']")
    await create.get_by_label("Nome", exact=True).fill(name)
    await create.get_by_label("Descrição").fill("Pluviômetros, leituras horárias")
    await create.get_by_label("Local (cidade, estado, país)").fill("São Paulo, SP, BR")
    await create.get_by_label("Preço").fill("1234.56")
    await create.get_by_role("button", name="Criar conjunto de dados").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    await check_accessibility(page)

    data = tmp_path / "chuva.csv"
    data.write_bytes(b"station,mm\n" + b"".join(b"A%06d,%d\n" % (i, i % 40)
                                                for i in range(400_000)))
    # The page reloads when the upload ends: the largest share the bar showed is kept in
    # sessionStorage, which the reload keeps.
    await page.evaluate("""() => {
      const bar = document.getElementById('upload-bar');
      new MutationObserver(() => {
        const seen = Number(sessionStorage.getItem('seen') || 0);
        sessionStorage.setItem('seen', Math.max(seen, bar.value / bar.max));
      }).observe(bar, {attributes: true});
    }""")
    await page.get_by_label(re.compile("Enviar um novo arquivo")).set_input_files(str(data))
    await page.get_by_role("button", name="Enviar arquivo").click()
    await expect(page.get_by_role("status")).to_have_text("Arquivo enviado.", timeout=60_000)
    await expect(page.locator("#current-file")).to_contain_text("chuva.csv")
    assert float(await page.evaluate("sessionStorage.getItem('seen')")) == 1.0
    await check_accessibility(page)
    await snapshot(page, "backoffice-dataset")

    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=2, name="Data file")).to_be_visible()
    await check_accessibility(page)


def _subscribe(live_server: str, email: str, dataset_name: str) -> None:
    """The customer's side, through the API (the panel's catalogue is another page)."""
    with httpx.Client(base_url=live_server, timeout=30) as api:
        token = api.post("/api/auth/login", json={"email": email, "password": PASSWORD}
                         ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        me = api.get("/api/users/profile", headers=auth).json()
        found = api.get("/api/datasets", params={"q": dataset_name}, headers=auth).json()
        response = api.post("/api/subscriptions", headers=auth, json={
            "account_id": me["account_id"], "dataset_id": found["items"][0]["id"]})
        assert response.status_code == 201, response.text


async def test_an_operator_closes_the_month_and_sees_the_invoice(page, live_server):
    from playwright.async_api import expect

    customer = await _sign_up(page, "Agro Dados", "Paula Reis")
    await _sign_out(page)
    await _as_operator(page, live_server)
    name = f"Ventos {uuid.uuid4().hex[:6]}"
    await page.goto("/backoffice/datasets")
    create = page.locator("form[method='post'][action='/backoffice/datasets']")
    await create.get_by_label("Nome", exact=True).fill(name)
    await create.get_by_label("Preço").fill("49.90")
    await create.get_by_role("button", name="Criar conjunto de dados").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    _subscribe(live_server, customer, name)

    await page.get_by_role("link", name="Faturamento").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Faturamento")
    await check_accessibility(page)
    await page.get_by_label("Mês (AAAA-MM)").fill(month_of(utcnow()))
    await page.get_by_role("button", name="Fechar o mês").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Fechamento de {month_of(utcnow())}")
    await expect(page.locator("#run-progress .badge.run")).to_have_text("Concluído", timeout=60_000)
    invoice = page.get_by_role("row", name=re.compile("Agro Dados"))
    await expect(invoice).to_contain_text("R$\xa049,90")
    await expect(invoice).to_contain_text("Em aberto")
    await check_accessibility(page)
    await snapshot(page, "backoffice-billing")

    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#run-progress .badge.run")).to_have_text("Finished")
    await expect(page.get_by_role("row", name=re.compile("Agro Dados"))).to_contain_text("Open")
    await check_accessibility(page)
    invoice = page.get_by_role("row", name=re.compile("Agro Dados"))
    await invoice.get_by_role("button", name=re.compile("Mark as paid")).click()
    await expect(page.get_by_role("status")).to_have_text("Invoice marked as paid.")
    await expect(page.get_by_role("row", name=re.compile("Agro Dados"))).to_contain_text("Paid")
