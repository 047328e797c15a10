"""What a person does in the panel, in Chromium against a live `nubo serve`."""

from __future__ import annotations

import re
import uuid

from tests.web.conftest import check_accessibility


async def test_sign_up_see_the_fleet_switch_language_and_sign_out(page):
    from playwright.async_api import expect

    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    await check_accessibility(page)

    await page.get_by_role("link", name="Criar uma conta").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Criar uma conta")
    await check_accessibility(page)
    await page.get_by_label("Organização").fill("Azul Manutenção")
    await page.get_by_label("Seu nome").fill("Ana Lima")
    await page.get_by_label("E-mail").fill(f"ana-{uuid.uuid4().hex[:6]}@example.com")
    await page.get_by_label("Senha (pelo menos 8 caracteres)").fill("a-long-password")
    await page.get_by_role("button", name="Criar conta").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Frota")
    await expect(page.get_by_text("Nenhuma aeronave ainda.")).to_be_visible()
    await check_accessibility(page)

    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Fleet")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.get_by_role("link", name="Profile").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Profile")
    await check_accessibility(page)
    await page.get_by_role("button", name="Português (Brasil)").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Perfil")

    await page.get_by_role("button", name="Sair").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto("/profile")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fprofile$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Entrar")


async def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(page):
    from playwright.async_api import expect

    await page.goto("/signup")
    await page.get_by_label("Organização").fill("Gol Técnica")
    await page.get_by_label("Seu nome").fill("Bruno Reis")
    await page.get_by_label("E-mail").fill(f"bruno-{uuid.uuid4().hex[:6]}@example.com")
    await page.get_by_label("Senha (pelo menos 8 caracteres)").fill("a-long-password")
    await page.get_by_role("button", name="Criar conta").click()
    await page.get_by_role("link", name="Perfil").click()

    form = page.locator("form[action='/profile/name']")
    await form.locator("input[name='csrf_token']").evaluate("input => input.remove()")
    await form.get_by_label("Seu nome").fill("Someone Else")
    await form.get_by_role("button").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Não permitido")
    await check_accessibility(page)

    await page.goto("/profile")
    await expect(page.locator("form[action='/profile/name']").get_by_label("Seu nome")
                 ).to_have_value("Bruno Reis")
