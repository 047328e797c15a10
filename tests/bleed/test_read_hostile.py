"""Hostile flight files: a stray quote must not shorten a flight without a word, and a line
that never ends or a stream of line breaks must fail fast, in bounded memory."""

from __future__ import annotations

import gzip
import json
import resource
import subprocess
import sys
import zlib
from pathlib import Path

import polars as pl
import pytest

import nubo.bleed.read as read_mod
from nubo.bleed.errors import FlightDataError
from nubo.bleed.pipeline import analyze
from nubo.bleed.read import read_flight
from nubo.bleed.simulate import Fault

from .conftest import flight

SMALL = flight(hours=1.0, rate_hz=1.0).head(1200)
PATHS = ["whole-file", "block-by-block", "gzip"]

# Polars' note on a stray quote, from the whole-file parse that the block path then replaces.
pytestmark = pytest.mark.filterwarnings("ignore:CSV malformed")


def _with_stray_quote(text: bytes, row: int, field: int = 3) -> tuple[bytes, int]:
    """`text` with a `"` before one field of data row `row` (1-based), and that row's offset."""
    lines = text.split(b"\n")
    cells = lines[row].split(b",")
    cells[field] = b'"' + cells[field]
    lines[row] = b",".join(cells)
    return b"\n".join(lines), len(b"\n".join(lines[:row])) + 1


def _write(tmp_path: Path, monkeypatch, data: bytes, path_kind: str) -> Path:
    if path_kind == "block-by-block":
        monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
        monkeypatch.setattr(read_mod, "BLOCK", 20_000)  # the damaged row in a middle block
    path = tmp_path / "flight.csv"
    path.write_bytes(gzip.compress(data) if path_kind == "gzip" else data)
    return path


@pytest.mark.parametrize("iso_time", [False, True], ids=["time_s", "timestamp"])
@pytest.mark.parametrize("path_kind", PATHS)
def test_a_stray_quote_masks_its_row_and_the_rest_of_the_file_is_read(
    tmp_path, monkeypatch, write, path_kind, iso_time
):
    clean = write(SMALL, iso_time=iso_time).read_bytes()
    data, offset = _with_stray_quote(clean, row=100)
    ff = read_flight(_write(tmp_path, monkeypatch, data, path_kind))
    assert (ff.rows_read, ff.rows_used) == (SMALL.height, SMALL.height - 1)
    assert ff.warnings == [
        f"1 row(s) masked because a quote does not close on its line: "
        f"row 100 (byte offset {offset})"
    ]
    assert ff.masked_share["cas_kt"] == pytest.approx(1 / SMALL.height)
    assert ff.data["cas_kt"].null_count() == 1  # the second of the masked row, a gap


@pytest.mark.parametrize("path_kind", PATHS)
def test_every_damaged_row_is_counted_and_the_first_ones_are_named(
    tmp_path, monkeypatch, path_kind
):
    data = SMALL.write_csv().encode()
    for row in (10, 500, 501, 900, 1000, 1100, 1200):
        data, _ = _with_stray_quote(data, row, field=row % 7)
    ff = read_flight(_write(tmp_path, monkeypatch, data, path_kind))
    assert (ff.rows_read, ff.rows_used) == (1200, 1193)
    (warning,) = ff.warnings
    assert warning.startswith("7 row(s) masked")
    assert "row 10 (" in warning and "row 1000 (" in warning and warning.endswith("and 2 more")


@pytest.mark.parametrize("path_kind", PATHS)
def test_well_formed_quoted_fields_are_read_as_before(tmp_path, monkeypatch, path_kind):
    text = SMALL.with_columns(pl.lit('say "hi", twice').alias("remark")).write_csv(
        quote_style="always"
    )
    ff = read_flight(_write(tmp_path, monkeypatch, text.encode(), path_kind))
    assert (ff.rows_read, ff.rows_used) == (1200, 1200)
    assert ff.data["eng1_bleed_press_psi"].null_count() == 0
    assert ff.warnings == ["1 unknown column(s) ignored: remark"]


def test_a_stray_quote_leaves_the_flight_verdict_and_says_what_it_used(tmp_path, write):
    df = flight(Fault("prv_stuck_open", 0.9), seed=3, hours=2.0)
    clean = write(df)
    path = tmp_path / "quote.csv"
    path.write_bytes(_with_stray_quote(clean.read_bytes(), row=100)[0])
    expected = analyze(clean).to_dict()
    result = analyze(path).to_dict()
    assert result["bleed_status"] == expected["bleed_status"] == "alert"
    assert expected["stats"]["rows_read"] == expected["stats"]["rows_used"] == df.height
    assert (result["stats"]["rows_read"], result["stats"]["rows_used"]) == (
        df.height,
        df.height - 1,
    )


# --- lines that never end, line breaks without end ------------------------------------

# Anonymous memory growth of read_flight in a fresh process, and the error it raised.
_PROBE = """
import json, sys, threading, time
from pathlib import Path
import nubo.bleed.read as read_mod
from nubo.bleed.errors import FlightDataError
for name, value in json.loads(sys.argv[2]).items():
    setattr(read_mod, name, value)
def anon():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
peak, done = [anon()], threading.Event()
def sample():
    while not done.is_set():
        peak.append(anon())
        time.sleep(0.002)
before = anon()
t = threading.Thread(target=sample)
t.start()
try:
    read_mod.read_flight(sys.argv[1])
    code = None
except FlightDataError as exc:
    code = exc.code
done.set()
t.join()
print(json.dumps({"code": code, "growth_mb": max(peak) - before}))
"""


def _address_space_cap() -> None:
    # A reader that regresses must fail this test, not take the machine's memory with it.
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _probe(path: Path, **overrides: int) -> tuple[str | None, float]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), json.dumps(overrides)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_address_space_cap,
    )
    result = json.loads(out.stdout)
    return result["code"], result["growth_mb"]


def _header() -> bytes:
    return (",".join(SMALL.columns) + "\n").encode()


def _bomb(path: Path, start: bytes, filler: bytes, mib: int, *, gz: bool) -> Path:
    """`start`, then `mib` MiB of `filler`, written plain or gzip'd, a MiB at a time."""
    chunk = filler * ((1 << 20) // len(filler))
    pack = zlib.compressobj(1, zlib.DEFLATED, 31) if gz else None
    with path.open("wb") as fh:
        for piece in [_header() + start, *[chunk] * mib]:
            fh.write(pack.compress(piece) if pack else piece)
        if pack:
            fh.write(pack.flush())
    return path


# Well under one block and the limit of a row: anything more is memory that grows with the
# file. The readers hold a few blocks (8 MiB) at once.
BOUND_MB = 48


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_a_field_that_never_ends_fails_at_the_field_limit_in_bounded_memory(tmp_path, gz):
    path = _bomb(tmp_path / "field.bomb", b"1,", b"9", 256, gz=gz)
    code, growth = _probe(path)
    assert code == "field-too-large"
    assert growth < BOUND_MB, growth


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_a_row_of_small_fields_that_never_ends_fails_at_the_row_limit(tmp_path, gz):
    path = _bomb(tmp_path / "row.bomb", b"1", b",", 16, gz=gz)
    code, growth = _probe(path)
    assert code == "field-too-large"
    assert growth < BOUND_MB, growth


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_a_row_of_a_million_fields_fails_with_too_many_columns_before_it_is_parsed(tmp_path, gz):
    # Under the row limit, but the parser's time and memory grow faster than its fields.
    path = _bomb(tmp_path / "wide.bomb", b"1", b",", 1, gz=gz)
    code, growth = _probe(path)
    assert code == "too-many-columns"
    assert growth < BOUND_MB, growth


@pytest.mark.parametrize("whole_file", [True, False], ids=["whole-file", "block-by-block"])
def test_a_long_row_of_few_fields_is_read(tmp_path, monkeypatch, whole_file):
    if not whole_file:
        monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
    text = SMALL.with_columns(pl.lit("n").alias("note")).write_csv()
    lines = text.splitlines()
    lines[5] += "x" * 500_000 + ",1" * 3000
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n")
    ff = read_flight(path)
    assert (ff.rows_read, ff.rows_used) == (1200, 1200)


def test_the_row_limit_error_names_the_rows_offset(tmp_path):
    path = tmp_path / "row.csv"
    path.write_bytes(_header() + b"1,2\n" + b"3" + b",4" * (3 << 20) + b"\n")
    with pytest.raises(FlightDataError) as info:
        read_flight(path)
    assert info.value.code == "field-too-large"
    assert f"offset {len(_header()) + 4} " in info.value.message


@pytest.mark.parametrize(
    ("gz", "whole_file"),
    [(True, False), (False, True), (False, False)],
    ids=["gzip", "plain-whole-file", "plain-block-by-block"],
)
def test_a_stream_of_line_breaks_fails_with_too_many_rows_before_parsing_them(
    tmp_path, gz, whole_file
):
    path = _bomb(tmp_path / "lines.bomb", b"", b"\n", 4, gz=gz)
    overrides = {"MAX_ROWS": 100_000, "BLOCK": 1 << 20}
    if not whole_file:
        overrides["WHOLE_FILE_MAX"] = 0
    code, growth = _probe(path, **overrides)
    assert code == "too-many-rows"
    assert growth < BOUND_MB, growth


def test_line_breaks_hidden_behind_a_normal_start_are_parsed_only_up_to_the_limit(
    tmp_path, monkeypatch
):
    # The first bytes of a block say nothing of its rest: the parse itself stops at the limit.
    rows = SMALL.head(300).write_csv(include_header=False).encode()
    path = tmp_path / "hidden.csv"
    path.write_bytes(_header() + rows + b"\n" * 400_000)
    monkeypatch.setattr(read_mod, "MAX_ROWS", 100_000)
    monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
    with pytest.raises(FlightDataError) as info:
        read_flight(path)
    assert info.value.code == "too-many-rows"
