"""The panel at a phone's, a tablet's and a laptop's width (375, 768 and 1280 px): the top
bar never wraps into several rows nor overlaps itself (narrow windows fold it into a menu),
no page is wider than the window, and axe stays clean. A picture of each page at each width
is kept in tests/web/out/views."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from nubo.bleed.simulate import Fault, simulate_flight, write_flight
from tests.web.conftest import check_accessibility, create_operator, keep_view, sign_up

WIDTHS = (375, 768, 1280)
FOLDED_BELOW = 1024  # app.css: the bar folds into its menu at 64rem and below

# The visible boxes of what a person reads or presses in the top bar, and any two of them
# that overlap; and how far the page is wider than the window.
_BAR = """() => {
  const shown = [...document.querySelectorAll(
      'header .brand, header .menu-button, header nav a, header form button, header form span')]
    .filter(e => e.checkVisibility());
  const boxes = shown.map(e => ({text: e.textContent.trim(), r: e.getBoundingClientRect()}));
  const overlaps = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
    if (a.r.left < b.r.right - 0.5 && b.r.left < a.r.right - 0.5
        && a.r.top < b.r.bottom - 0.5 && b.r.top < a.r.bottom - 0.5) {
      overlaps.push([a.text, b.text]);
    }
  }));
  const outside = boxes.filter(b => b.r.left < 0 || b.r.right > window.innerWidth)
    .map(b => b.text);
  const bar = document.querySelector('header.bar').getBoundingClientRect();
  const tooWide = document.documentElement.scrollWidth - window.innerWidth;
  const past = e => e.getBoundingClientRect().right > window.innerWidth + 0.5;
  const clipped = e => {  // inside a box that scrolls or clips and itself fits
    for (let a = e.parentElement; a; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible' && !past(a)) { return true; }
    }
    return false;
  };
  const wide = tooWide <= 0 ? [] : [...document.querySelectorAll('body *')]
    .filter(e => past(e) && !clipped(e) && ![...e.children].some(c => past(c) && !clipped(c)))
    .slice(0, 5).map(e => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`);
  const rows = new Set([...document.querySelectorAll('header nav a')]
    .filter(e => e.checkVisibility()).map(e => Math.round(e.getBoundingClientRect().top)));
  return {shown: boxes.map(b => b.text), overlaps: overlaps, outside: outside,
          barHeight: bar.height, linkRows: rows.size, tooWide: tooWide, wide: wide};
}"""


@pytest.fixture(scope="module")
def flight_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    flight = simulate_flight(seed=7, duration_h=1.0, rate_hz=1.0, fault=Fault("duct_leak", 1.0, 2))
    return write_flight(flight, tmp_path_factory.mktemp("layout") / "PR-XBW_layout.csv")


async def _table_roles(page) -> set[str]:
    """The table roles in Chromium's own accessibility tree (a table that scrolls in its box
    on a phone is `display: block`: it must stay a table to assistive technology)."""
    cdp = await page.context.new_cdp_session(page)
    try:
        tree = await cdp.send("Accessibility.getFullAXTree")
    finally:
        await cdp.detach()
    roles = {(node.get("role") or {}).get("value") for node in tree["nodes"]}
    return roles & {"table", "columnheader", "rowheader", "cell", "row"}


async def _check_bar(page, where: str, folded: bool) -> None:
    bar = await page.evaluate(_BAR)
    assert not bar["overlaps"], f"{where}: {bar}"
    assert not bar["outside"], f"{where}: {bar}"
    assert bar["tooWide"] <= 0, f"{where}: {bar}"
    assert bar["barHeight"] < 80, (where, bar)  # one row: the brand's and a button's height
    if folded:
        assert "Menu" in bar["shown"] and "Voos" not in bar["shown"], f"{where}: {bar}"
    else:
        assert "Menu" not in bar["shown"] and len(bar["shown"]) > 6, f"{where}: {bar}"
        assert bar["linkRows"] <= 1, f"{where}: {bar}"


async def test_every_page_fits_a_phone_a_tablet_and_a_laptop(page, flight_file: Path):
    from playwright.async_api import expect

    await sign_up(page, "Linhas Estreitas", "Gil Matos")
    await page.goto("/upload")
    await page.get_by_label("Arquivos de dados de voo").set_input_files(str(flight_file))
    await page.get_by_label("Matrícula").fill("PR-XBW")
    await page.get_by_role("button", name="Enviar", exact=True).click()
    row = page.locator("#uploads tbody tr")
    await expect(row.locator('.badge[data-status="processed"]')).to_be_visible(timeout=90_000)
    flight = await row.get_by_role("link", name="Abrir o voo").get_attribute("href")
    assert flight is not None

    pages = {"fleet": "/", "flights": "/flights", "flight": flight, "aircraft": "/aircraft/PR-XBW",
             "upload": "/upload", "catalogue": "/datasets", "profile": "/profile",
             "account": "/account"}
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 800})
        for name, path in pages.items():
            await page.goto(path)
            if name == "flight":
                await expect(page.locator("#flight-charts canvas")).to_have_count(4)
            if name == "upload":  # the batch's table shows once files are sent, not before
                await expect(page.locator("#uploads")).to_be_hidden()
            if name == "fleet":
                assert await _table_roles(page) >= {"table", "columnheader", "rowheader", "cell"}
            await _check_bar(page, f"{path} at {width}px", folded=width <= FOLDED_BELOW)
            await check_accessibility(page)
            await keep_view(page, f"{name}-{width}")


@pytest.mark.parametrize("width", [375, 768])
async def test_a_narrow_window_opens_the_menu_and_goes_where_it_says(page, width: int):
    from playwright.async_api import expect

    await page.set_viewport_size({"width": width, "height": 800})
    await sign_up(page, "Menu Dobrado", "Hugo Reis")
    links = page.get_by_role("navigation", name="Principal").get_by_role("link")
    await expect(links.first).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    await menu.click()
    await expect(links).to_have_count(8)
    for link in await links.all():
        await expect(link).to_be_visible()
    await expect(page.get_by_role("button", name="Sair")).to_be_visible()
    await expect(page.get_by_role("button", name="English")).to_be_visible()
    bar = await page.evaluate(_BAR)
    assert not bar["overlaps"] and not bar["outside"], bar
    await check_accessibility(page)
    await keep_view(page, f"menu-open-{width}")

    await page.keyboard.press("Escape")  # the browser's popover closes on Escape
    await expect(links.first).to_be_hidden()
    await menu.click()
    await links.filter(has_text="Voos").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Voos")
    await expect(links.first).to_be_hidden()

    await menu.click()
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Flights")
    await page.get_by_role("button", name="Menu").click()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    bar = await page.evaluate(_BAR)  # signed out: the language switch alone, inline
    assert not bar["overlaps"] and not bar["outside"] and bar["tooWide"] <= 0, bar
    assert "English" in bar["shown"] and "Menu" not in bar["shown"], bar
    await check_accessibility(page)
    await keep_view(page, f"signed-out-{width}")


async def test_the_longest_bar_an_operators_in_english_fits_one_row_of_a_laptop(
    page, live_server: str
):
    """An operator has one more link (the back office) and English has longer words: still
    one row at 1280 px, folded at 1024 px."""
    from playwright.async_api import expect

    email = f"operator-{uuid.uuid4().hex[:8]}@example.com"
    create_operator(live_server, email, "an-operator-password")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.goto("/login")
    await page.get_by_role("button", name="English").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("an-operator-password")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("link", name="Back office")).to_be_visible()
    await _check_bar(page, "an operator in English at 1280px", folded=False)
    await keep_view(page, "operator-en-1280")
    await page.set_viewport_size({"width": FOLDED_BELOW, "height": 800})
    bar = await page.evaluate(_BAR)
    assert "Menu" in bar["shown"] and not bar["overlaps"] and bar["tooWide"] <= 0, bar
