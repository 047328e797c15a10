"""A dataset file's preview: taken from the upload's stream, in bounded memory, stored once."""

from __future__ import annotations

import gzip
import io
import tracemalloc

import polars as pl

from nubo.marketplace import preview
from nubo.models import Dataset
from tests.marketplace.factories import make_dataset


def captured(data: bytes, chunk: int = 64 * 1024) -> preview.Capture:
    capture = preview.Capture(None)  # type: ignore[arg-type]
    for i in range(0, len(data), chunk):
        capture.take(data[i : i + chunk])
    return capture


def test_csv_gives_columns_with_types_and_the_first_rows():
    data = "cidade;temp;dia\nSão Paulo;21.5;2026-01-01\nRio;30;2026-01-02\n".encode()
    shown = preview.compute(captured(data))
    assert shown == {
        "format": "csv",
        "columns": [{"name": "cidade", "type": "String"}, {"name": "temp", "type": "Float64"},
                    {"name": "dia", "type": "Date"}],
        "column_count": 3,
        "rows": [["São Paulo", 21.5, "2026-01-01"], ["Rio", 30.0, "2026-01-02"]],
    }


def test_a_latin1_csv_is_read_too():
    shown = preview.compute(captured("nome,uf\nSão Paulo,SP\n".encode("latin-1")))
    assert shown is not None and shown["rows"] == [["São Paulo", "SP"]]


def test_a_large_csv_is_previewed_from_its_head_only_in_bounded_memory():
    data = b"a,b\n" + b"0,x0\n1,x1\n" + b"2,x2\n" * 3_000_000  # 15 MB
    tracemalloc.start()
    capture = captured(data)
    shown = preview.compute(capture)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(capture.head) == preview.HEAD_BYTES and len(capture.tail) == preview.TAIL_BYTES
    assert peak < 12 * preview.HEAD_BYTES  # the file is 15 times larger than the head
    assert shown is not None and len(shown["rows"]) == preview.ROWS
    assert shown["rows"][0] == [0, "x0"]


def test_gzipped_csv_is_inflated_only_as_far_as_the_head():
    data = b"a,b\n0,0\n1,2\n" + b"7,14\n" * 2_000_000  # 10 MB, 1 MB head inflates far less
    shown = preview.compute(captured(gzip.compress(data, compresslevel=1)))
    assert shown is not None and shown["format"] == "csv.gz"
    assert shown["rows"][:2] == [[0, 0], [1, 2]]


def test_parquet_schema_from_the_footer_and_rows_from_the_head():
    frame = pl.select(t=pl.int_range(100_000), v=pl.int_range(100_000) / 2)
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    shown = preview.compute(captured(buffer.getvalue()))
    assert shown is not None and shown["format"] == "parquet"
    assert shown["columns"] == [{"name": "t", "type": "Int64"}, {"name": "v", "type": "Float64"}]
    assert shown["rows"][:2] == [[0, 0.0], [1, 0.5]]


def test_parquet_whose_first_rows_lie_beyond_the_head_still_shows_its_columns():
    frame = pl.select(z=pl.lit("value ") + pl.int_range(1_500_000).cast(pl.String))
    buffer = io.BytesIO()
    frame.write_parquet(buffer, row_group_size=1_500_000, compression="uncompressed")
    assert len(buffer.getvalue()) > 2 * preview.HEAD_BYTES
    shown = preview.compute(captured(buffer.getvalue()))
    assert shown is not None
    assert shown["columns"] == [{"name": "z", "type": "String"}] and shown["rows"] == []


def test_binary_or_unknown_files_have_no_preview():
    assert preview.compute(captured(b"PK\x03\x04\x00\x00zip")) is None
    assert preview.compute(captured(b"\x1f\x8bnot really gzip")) is None


async def test_the_upload_stores_the_preview_and_the_api_shows_it(client, world, session):
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    response = await client.post(
        f"/api/datasets/{dataset.id}/file", content=b"station,mm\nA,1.5\nB,2\n",
        params={"filename": "rain.csv"},
        headers={**world.headers("operator"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    expected = {"format": "csv", "column_count": 2, "rows": [["A", 1.5], ["B", 2.0]],
                "columns": [{"name": "station", "type": "String"},
                            {"name": "mm", "type": "Float64"}]}
    assert response.json()["preview"] == expected
    stored = await session.get(Dataset, dataset.id, populate_existing=True)
    assert stored is not None and stored.preview == expected
    shown = await client.get(f"/api/datasets/{dataset.id}", headers=world.headers("member_a"))
    assert shown.json()["preview"] == expected


async def test_a_dataset_without_a_file_has_no_preview(client, world, session):
    dataset = await make_dataset(session, world.platform_account)
    await session.commit()
    shown = await client.get(f"/api/datasets/{dataset.id}", headers=world.headers("member_a"))
    assert shown.json()["preview"] is None
