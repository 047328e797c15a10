"""What a person does in the panel, in Chromium against a live `nubo serve`."""

from __future__ import annotations

import re
import uuid

from tests.web.conftest import check_accessibility, snapshot


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


async def test_upload_three_files_watch_them_finish_and_read_the_fleet(page, tmp_path):
    """Sign up, upload three simulated flights at once, see each reach `processed` without
    reloading, then the fleet, a flight, the aircraft's trend chart."""
    from playwright.async_api import expect

    from nubo.bleed.simulate import simulate_fleet

    simulate_fleet(tmp_path, aircraft=1, flights=3, seed=7, fmt="csv", rates_hz=(1,),
                   hours=(1.0, 1.0))
    files = sorted(str(p) for p in tmp_path.glob("AC001_*.csv"))
    assert len(files) == 3

    await page.goto("/signup")
    await page.get_by_label("Organização").fill("Linhas Teste")
    await page.get_by_label("Seu nome").fill("Carla Dias")
    await page.get_by_label("E-mail").fill(f"carla-{uuid.uuid4().hex[:6]}@example.com")
    await page.get_by_label("Senha (pelo menos 8 caracteres)").fill("a-long-password")
    await page.get_by_role("button", name="Criar conta").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Frota")

    await page.get_by_role("link", name="Enviar", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Enviar voos")
    await check_accessibility(page)
    await page.get_by_label("Arquivos de dados de voo").set_input_files(files)
    await page.get_by_label("Ler do nome de cada arquivo").check()
    await page.get_by_role("button", name="Enviar", exact=True).click()
    stages = page.locator("#uploads td.stage .badge")
    await expect(stages).to_have_count(3)
    await expect(page.locator('#uploads .badge[data-status="processed"]')).to_have_count(
        3, timeout=90_000)
    await check_accessibility(page)
    await snapshot(page, "upload")

    await page.get_by_role("link", name="Frota").click()
    await expect(page.get_by_role("link", name="AC001")).to_be_visible()
    await check_accessibility(page)
    await snapshot(page, "fleet")

    await page.get_by_role("link", name="Voos", exact=True).click()
    await expect(page.locator("tbody tr")).to_have_count(3)
    await check_accessibility(page)
    await page.locator("tbody tr th a").first.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("AC001")
    plots = page.locator("#flight-charts canvas")
    await expect(plots).to_have_count(4)
    assert await _has_pixels(plots.first)
    await check_accessibility(page)

    await page.goto("/aircraft/AC001")
    charts = page.locator("#trend-charts canvas")
    await expect(charts.first).to_be_visible()
    assert await _has_pixels(charts.first)
    # The time under the cursor is written the Brazilian way (day first, 24-hour clock).
    await page.locator("#trend-charts .u-over").first.hover()
    flown = page.locator("#trend-charts .u-legend .u-series:first-child .u-value").first
    await expect(flown).to_have_text(re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}$"))
    await check_accessibility(page)


async def _has_pixels(canvas) -> bool:
    """Some pixel of the chart's canvas is drawn (not fully transparent)."""
    return await canvas.evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; } return false; }"
    )
