"""A large flight file straight from Chromium to S3: the upload page of a `nubo serve` whose
store is an S3 bucket (moto on loopback, answering CORS preflights from the bucket's rule as
S3 does) sends a file of 64 MiB or more through the API's presigned multipart grant."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nubo.bleed.simulate import simulate_flight, write_flight
from nubo.flights import direct
from tests.web.conftest import LiveS3, check_accessibility, sign_up

REGISTRATION = "PR-XBS"


@pytest.fixture(scope="module")
def large_flight(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A three-hour flight recorded at 8 Hz with the many other parameters a flight recorder
    keeps (96 of them): past the page's threshold for going straight to the store."""
    flight = simulate_flight(seed=11, duration_h=3.0, rate_hz=8.0, extra_columns=96)
    path = write_flight(flight, tmp_path_factory.mktemp("large") / f"{REGISTRATION}_big.csv")
    size = path.stat().st_size
    assert size >= direct.BROWSER_DIRECT_FROM
    return path, size


async def test_a_large_file_goes_from_the_browser_straight_to_s3_and_is_processed(
    s3_page, live_s3_server: LiveS3, large_flight: tuple[Path, int]
):
    from playwright.async_api import expect

    page, live = s3_page, live_s3_server
    path, size = large_flight
    to_store: list[str] = []
    through_us: list[str] = []

    def seen(request) -> None:
        if request.url.startswith(live.s3.endpoint):
            to_store.append(request.method)
        elif request.method == "POST":
            through_us.append(request.url.removeprefix(live.base))

    page.on("request", seen)
    await sign_up(page, "Voa Longe", "Dora Nunes")
    await page.get_by_role("link", name="Enviar", exact=True).click()
    await expect(page.locator("#upload-form")).to_have_attribute(
        "data-direct-from", str(direct.BROWSER_DIRECT_FROM))
    await page.get_by_label("Arquivos de dados de voo").set_input_files(str(path))
    await page.get_by_label("Matrícula").fill(REGISTRATION)
    await page.get_by_role("button", name="Enviar", exact=True).click()

    row = page.locator("#uploads tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator('.badge[data-status="processed"]')).to_be_visible(timeout=240_000)
    bar = row.locator("progress")
    assert await bar.evaluate("(b, size) => b.value === b.max && b.max === size", size)
    await check_accessibility(page)

    # Every part went from the browser to the bucket; our server saw only the small calls.
    parts = math.ceil(size / direct.DEFAULT_PART_SIZE)
    assert to_store.count("PUT") == parts
    flight_id = (await row.get_by_role("link", name="Abrir o voo").get_attribute("href"))
    assert flight_id is not None
    flight_id = flight_id.rsplit("/", 1)[1]
    assert through_us[-3:] == ["/api/flight/create", f"/api/flight/{flight_id}/upload-url",
                               f"/api/flight/{flight_id}/upload-complete"]

    stored = live.s3.boto3_client().list_objects_v2(Bucket=live.s3.bucket, Prefix=live.prefix)
    sizes = {o["Key"]: o["Size"] for o in stored.get("Contents", [])}
    assert size in sizes.values(), sizes
    assert live.s3.list_multipart_uploads(live.prefix) == []

    await row.get_by_role("link", name="Abrir o voo").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(REGISTRATION)
    await expect(page.locator(".facts")).to_contain_text(path.name)
    await expect(page.locator("#flight-charts canvas")).to_have_count(4)
    await check_accessibility(page)


async def test_without_the_buckets_cors_rule_the_browser_cannot_send_and_the_page_says_so(
    s3_page, live_s3_server: LiveS3, large_flight: tuple[Path, int]
):
    """The bucket's CORS rule is what lets the browser send; without one (a bucket not yet
    set up) the page shows the file as failed and says why, and no object reaches the
    bucket."""
    from playwright.async_api import expect

    page, live = s3_page, live_s3_server
    path, _ = large_flight
    client = live.s3.boto3_client()
    before = set(live.s3.list_keys(live.prefix))
    rules = client.get_bucket_cors(Bucket=live.s3.bucket)["CORSRules"]
    client.delete_bucket_cors(Bucket=live.s3.bucket)
    try:
        await sign_up(page, "Voa Perto", "Eva Prado")
        await page.goto("/upload")
        await page.get_by_label("Arquivos de dados de voo").set_input_files(str(path))
        await page.get_by_label("Matrícula").fill("PR-XBT")
        await page.get_by_role("button", name="Enviar", exact=True).click()
        row = page.locator("#uploads tbody tr")
        await expect(row.locator('.badge[data-status="failed"]')).to_be_visible(timeout=60_000)
        await expect(row.locator(".error")).to_have_text(
            "store-refused: O armazenamento de arquivos não aceitou o arquivo vindo deste "
            "navegador: sua regra de CORS precisa permitir este site.")
        await check_accessibility(page)
    finally:
        client.put_bucket_cors(Bucket=live.s3.bucket, CORSConfiguration={"CORSRules": rules})
    assert set(live.s3.list_keys(live.prefix)) == before
