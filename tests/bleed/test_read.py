import gzip
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nubo.bleed.errors import FlightDataError
from nubo.bleed.read import read_flight

from .conftest import flight

SMALL = flight(hours=1.0, rate_hz=1.0).head(1200)


def _fails(path: Path, code: str) -> FlightDataError:
    with pytest.raises(FlightDataError) as info:
        read_flight(path)
    assert info.value.code == code
    assert info.value.message
    return info.value


def test_csv_with_comma_delimiter_is_read(write):
    ff = read_flight(write(SMALL))
    assert ff.source_format == "csv"
    assert ff.rows_read == SMALL.height
    assert ff.data.height == 1200
    assert ff.warnings == []


def test_csv_with_semicolon_delimiter_is_read(write):
    ff = read_flight(write(SMALL, delimiter=";"))
    assert ff.data["eng1_bleed_press_psi"].null_count() < 5
    assert ff.data["time_s"].to_list()[:3] == [0, 1, 2]


def test_csv_with_bom_and_crlf_is_read(tmp_path):
    text = SMALL.write_csv(line_terminator="\r\n")
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    ff = read_flight(path)
    assert ff.data["alt_std_ft"].null_count() == 0


def test_aliased_headers_are_mapped_case_insensitively(write, tmp_path):
    ff = read_flight(write(SMALL, aliased=True))
    assert "eng2_precooler_out_temp_degc" in ff.data.columns
    lower = SMALL.rename({"cas_kt": "cas", "eng1_n1_pct": "eng 1 n1"})
    assert "cas_kt" in read_flight(write(lower)).data.columns


def test_unknown_columns_are_ignored_and_listed_as_warning(write):
    df = SMALL.with_columns(pl.lit(1.0).alias("FUEL QTY"), pl.lit(2.0).alias("GS"))
    ff = read_flight(write(df))
    assert "FUEL QTY" not in ff.data.columns
    assert any("FUEL QTY" in w and "GS" in w for w in ff.warnings)


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_gzip_and_parquet_give_the_same_frame_as_csv(write, fmt):
    ref = read_flight(write(SMALL)).data
    other = read_flight(write(SMALL, fmt)).data
    assert other.columns == ref.columns
    diff = (other["eng1_bleed_press_psi"] - ref["eng1_bleed_press_psi"]).abs().max()
    assert diff < 1e-2


def test_iso_timestamp_is_a_time_column(write):
    ff = read_flight(write(SMALL, iso_time=True))
    assert ff.data.height == 1200
    assert abs(ff.duration_s - 1199) < 1e-6


def test_rows_out_of_order_are_sorted_and_duplicate_timestamps_keep_last(write):
    df = SMALL.head(10).with_columns(pl.lit(40.0).alias("eng1_bleed_press_psi"))
    dup = df.slice(3, 1).with_columns(pl.lit(99.0).alias("eng1_bleed_press_psi"))
    shuffled = pl.concat([df.reverse(), dup])
    data = read_flight(write(shuffled)).data
    assert data["time_s"].to_list() == list(range(10))
    assert data["eng1_bleed_press_psi"][3] == 99.0


def test_8hz_is_resampled_to_1hz_mean_and_last_discrete(tmp_path):
    path = tmp_path / "hz.csv"
    rows = [
        "time_s,alt_std_ft,cas_kt,tat_degc,eng1_n1_pct,eng1_n2_pct,eng1_bleed_press_psi,"
        "eng1_precooler_out_temp_degc,eng1_prv_open,eng2_n1_pct,eng2_n2_pct,"
        "eng2_bleed_press_psi,eng2_precooler_out_temp_degc,eng2_prv_open"
    ]
    for i in range(16):
        t = i / 8
        prv = 1 if i in (7, 15) else 0
        rows.append(f"{t},0,0,15,20,60,{40 + i % 8},150,{prv},20,60,40,150,0")
    path.write_text("\n".join(rows) + "\n")
    ff = read_flight(path)
    assert ff.data["eng1_bleed_press_psi"].to_list() == [43.5, 43.5]
    assert ff.data["eng1_prv_open"].to_list() == [1.0, 1.0]
    assert ff.sample_rate_hz == pytest.approx(8.0)


def test_bad_cells_are_masked_and_their_share_reported(write):
    bad = ["", "n/a", "NaN", "inf", "-1e9"]
    col = SMALL["cas_kt"].cast(pl.String).to_list()
    for i in range(50):
        col[i * 10] = bad[i % len(bad)]
    ff = read_flight(write(SMALL.with_columns(pl.Series("cas_kt", col))))
    assert ff.masked_share["cas_kt"] == pytest.approx(50 / 1200)
    assert ff.masked_share["alt_std_ft"] == 0.0


def test_more_than_20_percent_masked_in_a_required_column_is_insufficient_data(write):
    df = SMALL.with_columns(
        pl.when(pl.int_range(pl.len()) % 4 == 0)
        .then(500.0)
        .otherwise(pl.col("tat_degc"))
        .alias("tat_degc")
    )
    err = _fails(write(df), "insufficient-data")
    assert "tat_degc" in err.message


def test_missing_required_column_fails_with_missing_column(write):
    err = _fails(write(SMALL.drop("eng2_bleed_press_psi")), "missing-column")
    assert "eng2_bleed_press_psi" in err.message


def test_file_without_time_column_fails_with_no_time_column(write):
    _fails(write(SMALL.drop("time_s")), "no-time-column")


def test_unparseable_time_fails_with_no_time_column(write):
    _fails(write(SMALL.with_columns(pl.lit("soon").alias("time_s"))), "no-time-column")


def test_empty_file_fails_with_empty_file(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    _fails(tmp_path / "e.csv", "empty-file")


def test_header_only_fails_with_header_only(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(",".join(SMALL.columns) + "\n")
    _fails(path, "header-only")


def test_truncated_gzip_fails_with_corrupt_gzip(tmp_path):
    blob = gzip.compress(SMALL.write_csv().encode())
    path = tmp_path / "t.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])
    err = _fails(path, "corrupt-gzip")
    assert "offset" in err.message


def test_parquet_with_broken_footer_fails_with_corrupt_parquet(write):
    path = write(SMALL, "parquet")
    blob = path.read_bytes()
    path.write_bytes(blob[:-12] + b"\x00" * 8 + b"PAR1")
    _fails(path, "corrupt-parquet")


def test_invalid_utf8_fails_with_not_utf8_and_names_the_offset(tmp_path):
    text = SMALL.write_csv().encode()
    pos = len(text) // 2
    path = tmp_path / "l.csv"
    path.write_bytes(text[:pos] + b"\xe9" + text[pos:])
    err = _fails(path, "not-utf8")
    assert str(pos) in err.message


def test_more_than_4096_columns_fails_with_too_many_columns(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text(",".join(SMALL.columns + [f"x{i}" for i in range(4100)]) + "\n0\n")
    _fails(path, "too-many-columns")


def test_field_over_one_mebibyte_fails_with_field_too_large(tmp_path):
    path = tmp_path / "big.csv"
    head = SMALL.head(3).write_csv()
    path.write_text(head + "1," + "9" * (1 << 20 + 1) + "\n")
    _fails(path, "field-too-large")


def test_random_binary_fails_with_unsupported_format(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(256)) * 4)
    _fails(path, "unsupported-format")


def test_parquet_with_a_datetime_timestamp_column_is_read(tmp_path):
    from datetime import UTC, datetime

    df = SMALL.with_columns(
        (pl.lit(datetime(2026, 3, 1, tzinfo=UTC)) + pl.duration(seconds=pl.col("time_s"))).alias(
            "timestamp"
        )
    ).drop("time_s")
    path = tmp_path / "ts.parquet"
    df.write_parquet(path)
    ff = read_flight(path)
    assert ff.data.height == 1200
    assert ff.source_format == "parquet"


def test_gzip_csv_larger_than_one_block_is_read(tmp_path, monkeypatch):
    import nubo.bleed.read as read_mod

    monkeypatch.setattr(read_mod, "BLOCK", 64 * 1024)
    path = tmp_path / "blocks.csv.gz"
    path.write_bytes(gzip.compress(SMALL.write_csv().encode()))
    ff = read_flight(path)
    assert ff.rows_read == SMALL.height
    assert ff.data["eng1_bleed_press_psi"].null_count() == 0


def test_plain_csv_parsed_block_by_block_equals_one_block(write, monkeypatch):
    import nubo.bleed.read as read_mod

    path = write(SMALL)
    whole = read_flight(path).data
    monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
    monkeypatch.setattr(read_mod, "BLOCK", 50_000)
    assert read_flight(path).data.equals(whole)


def test_a_byte_level_error_outranks_an_error_of_the_parser(tmp_path):
    # The byte checks run beside the parse; their verdict must still come first, here
    # over a file whose parse also has something to say (a first row shorter than the header).
    lines = SMALL.write_csv().splitlines()
    short = ",".join(lines[1].split(",")[:5])
    path = tmp_path / "both.csv"
    path.write_bytes("\n".join([lines[0], short, *lines[2:]]).encode() + b"\n\xe9\n")
    _fails(path, "not-utf8")


def test_a_blank_body_is_header_only(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text(",".join(SMALL.columns) + "\n  \n\n")
    _fails(path, "header-only")


def test_times_more_than_a_day_from_the_median_are_dropped(write):
    far = SMALL["time_s"].to_numpy().copy()
    far[[3, 7]] = [far[3] + 3 * 86_400.0, far[7] - 2 * 86_400.0]
    ff = read_flight(write(SMALL.with_columns(pl.Series("time_s", far))))
    assert ff.rows_read == SMALL.height
    assert ff.data.height == SMALL.height
    assert any("2 row(s) without a usable time" in w for w in ff.warnings)


def _ragged(tmp_path: Path, first_row: str) -> Path:
    lines = SMALL.write_csv().splitlines()
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join([lines[0], first_row, *lines[2:]]) + "\n")
    return path


@pytest.mark.parametrize("whole_file", [True, False], ids=["whole-file", "block-by-block"])
def test_a_first_row_shorter_than_the_header_is_masked_not_fatal(tmp_path, monkeypatch, whole_file):
    import nubo.bleed.read as read_mod

    if not whole_file:
        monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
    first = SMALL.write_csv().splitlines()[1]
    ff = read_flight(_ragged(tmp_path, ",".join(first.split(",")[:5])))
    assert ff.rows_read == SMALL.height
    # The cut row keeps its first five cells; every column after them is null there.
    cut = SMALL.columns[5]
    assert ff.data[cut][0] is None
    assert ff.data[cut][1:].null_count() == 0


@pytest.mark.parametrize("whole_file", [True, False], ids=["whole-file", "block-by-block"])
def test_a_first_row_longer_than_the_header_loses_only_its_surplus(
    tmp_path, monkeypatch, whole_file
):
    import nubo.bleed.read as read_mod

    if not whole_file:
        monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
    first = SMALL.write_csv().splitlines()[1]
    ff = read_flight(_ragged(tmp_path, first + ",1,2,3"))
    assert ff.rows_read == SMALL.height
    assert ff.data.equals(read_flight(_ragged(tmp_path, first)).data)


def test_a_blank_line_after_the_header_is_a_row_without_time(tmp_path):
    first = SMALL.write_csv().splitlines()[1]
    ff = read_flight(_ragged(tmp_path, "\n" + first))
    assert ff.data.height == SMALL.height
    assert any("1 row(s) without a usable time" in w for w in ff.warnings)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_more_samples_than_the_limit_fail_with_too_many_rows(write, monkeypatch, fmt):
    import nubo.bleed.read as read_mod

    monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)  # the block path of a large file
    monkeypatch.setattr(read_mod, "BLOCK", 20_000)
    monkeypatch.setattr(read_mod, "MAX_ROWS", SMALL.height - 1)
    error = _fails(write(SMALL, suffix=fmt), "too-many-rows")
    assert f"{SMALL.height - 1:,}" in error.message


def test_blocks_shorter_than_a_line_still_parse_whole_lines(write, monkeypatch):
    import nubo.bleed.read as read_mod

    path = write(SMALL)
    whole = read_flight(path).data
    monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
    monkeypatch.setattr(read_mod, "BLOCK", 7)  # far shorter than one row
    assert read_flight(path).data.equals(whole)


def test_an_earlier_blocks_error_outranks_a_later_blocks_byte_error(write, monkeypatch):
    # Blocks parse while the next ones are checked; errors must still come in file order.
    import nubo.bleed.read as read_mod

    path = write(SMALL)
    # A last line longer than a block is a block of its own, checked while the block
    # holding the last good rows, one row too many, may still be parsing.
    path.write_bytes(path.read_bytes() + b"\xe9" + b"0" * 5_000 + b"\n")
    monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
    monkeypatch.setattr(read_mod, "BLOCK", 2_000)
    monkeypatch.setattr(read_mod, "MAX_ROWS", SMALL.height - 1)
    _fails(path, "too-many-rows")


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=60),
    last_newline=st.booleans(),
    size=st.integers(1, 300),
)
def test_file_blocks_cover_the_file_and_end_on_line_breaks(lines, last_newline, size):
    import io

    from nubo.bleed.read import _file_blocks

    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    blocks = list(_file_blocks(io.BufferedReader(io.BytesIO(data)), size))  # type: ignore[arg-type]
    assert b"".join(blocks) == data
    assert all(block.endswith(b"\n") for block in blocks[:-1])
    assert all(blocks)
