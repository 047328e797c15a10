"""A flight with findings, in Chromium: its findings in words and the bands the plots draw
over the seconds each finding was seen (red for an alert, amber for a watch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nubo.bleed.simulate import Fault, simulate_flight, write_flight
from tests.web.conftest import check_accessibility, keep_view, sign_up, snapshot

REGISTRATION = "PR-XBL"
INK = {"alert": (207, 34, 46), "watch": (154, 103, 0)}  # charts.js: a band's top edge
EDGE_PX = 3  # a band's ends may blend with their neighbours (anti-aliasing, rounding)

# Along the top edge of a plot's drawing area: the runs of each finding colour, in device
# pixels from the area's left, and the area's width.
_INK_RUNS = """(canvas, ink) => {
  const over = canvas.parentElement.querySelector('.u-over');
  const dpr = window.devicePixelRatio;
  const left = Math.round(over.offsetLeft * dpr), width = Math.round(over.offsetWidth * dpr);
  const row = canvas.getContext('2d')
    .getImageData(left, Math.round(over.offsetTop * dpr) + 1, width, 1).data;
  const runs = [];
  let cur = null;
  for (let i = 0; i < width; i++) {
    const px = [row[4 * i], row[4 * i + 1], row[4 * i + 2], row[4 * i + 3]];
    const kind = Object.keys(ink).find(k => px[3] === 255 && ink[k].every((v, j) => v === px[j]));
    if (cur && cur.kind === kind) { cur.x1 = i; continue; }
    if (cur && cur.kind) { runs.push(cur); }
    cur = {kind: kind, x0: i, x1: i};
  }
  if (cur && cur.kind) { runs.push(cur); }
  return {runs: runs, width: width};
}"""


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@pytest.fixture(scope="module")
def leaking_flight(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """An hour at 1 Hz whose engine 2 has a severe duct leak: the pipeline finds the leak
    warnings it recorded (alert) and the pressure it lost (watch). The file, and the seconds
    its leak warning was on."""
    flight = simulate_flight(seed=7, duration_h=1.0, rate_hz=1.0, fault=Fault("duct_leak", 1.0, 2))
    warned = flight.filter(flight["eng2_bleed_leak"] >= 0.5)["time_s"].to_list()
    assert warned
    path = write_flight(flight, tmp_path_factory.mktemp("leak") / f"{REGISTRATION}_leak.csv")
    return path, warned


async def test_a_flight_with_findings_lists_them_in_words_and_bands_them_on_the_plots(
    page, leaking_flight: tuple[Path, list[float]]
):
    from playwright.async_api import expect

    path, warned = leaking_flight
    await sign_up(page, "Sangria Atenta", "Fábio Souza")
    await page.goto("/upload")
    await page.get_by_label("Arquivos de dados de voo").set_input_files(str(path))
    await page.get_by_label("Matrícula").fill(REGISTRATION)
    await page.get_by_role("button", name="Enviar", exact=True).click()
    row = page.locator("#uploads tbody tr")
    await expect(row.locator('.badge[data-status="processed"]')).to_be_visible(timeout=90_000)
    await row.get_by_role("link", name="Abrir o voo").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(REGISTRATION)

    flight_id = page.url.rsplit("/", 1)[1]
    # What the page hands its plots: each finding's number, severity and span.
    findings = await page.locator("#flight-charts").evaluate("b => JSON.parse(b.dataset.findings)")
    assert {f["severity"] for f in findings} == {"alert", "watch"}
    leak = next(f for f in findings if f["severity"] == "alert")  # where the file warned
    assert abs(leak["start_s"] - warned[0]) <= 1 and abs(leak["end_s"] - warned[-1]) <= 1

    # In words: each finding, its engine, its severity, when it was seen.
    items = page.locator("ol.findings > li")
    await expect(items).to_have_count(len(findings))
    for item, finding in zip(await items.all(), findings, strict=True):
        assert await item.get_attribute("id") == f"finding-{finding['n']}"
        await expect(item.locator(".badge")).to_have_text(
            {"alert": "Alerta", "watch": "Atenção"}[finding["severity"]])
        await expect(item).to_contain_text("Motor 2")
        await expect(item.locator(".where")).to_contain_text(
            f"Visto de {_duration(finding['start_s'])} a {_duration(finding['end_s'])} do voo")
    await expect(items.filter(has_text="Vazamento de sangria")).to_have_count(1)
    await expect(items.filter(has_text="Pressão de sangria baixa")).to_have_count(1)

    # On the plots: each finding's band, in its severity's colour, over its seconds.
    plots = page.locator("#flight-charts canvas")
    await expect(plots).to_have_count(4)
    series = await (await page.request.get(f"/api/flight/{flight_id}/series?points=2000")).json()
    t0, t1 = series["time_s"][0], series["time_s"][-1]
    for plot in await plots.all():
        drawn = await plot.evaluate(_INK_RUNS, INK)
        width = drawn["width"]

        def x(t: float, w: int = width) -> float:
            return (t - t0) / (t1 - t0) * w

        for finding in findings:
            start, end = x(finding["start_s"]), x(finding["end_s"] + 1)
            assert any(r["kind"] == finding["severity"] and r["x0"] <= end and r["x1"] >= start
                       for r in drawn["runs"]), (finding, start, end, drawn["runs"])
        for run in drawn["runs"]:  # and no band where nothing was found
            assert any(x(f["start_s"]) - EDGE_PX <= run["x0"]
                       and run["x1"] <= x(f["end_s"] + 1) + EDGE_PX
                       for f in findings if f["severity"] == run["kind"]), run
    await check_accessibility(page)
    await keep_view(page, "flight-findings")
    await snapshot(page, "flight")
