"""Whatever bytes a CSV upload holds, the reader answers a result or a FlightDataError with a
known code, never another exception, on the whole-file and the block-by-block path alike."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nubo.bleed.read as read_mod
from nubo.bleed.errors import ERROR_CODES, FlightDataError
from nubo.bleed.read import read_flight

from .conftest import flight

BASE = flight(seed=11).head(600).write_csv().encode()
NASTY = [b'"', b"\n", b"\r\n", b",", b";", b"\xe9", b"\xff\xfe", b"\x00", b"nan", b"-inf",
         b"1e308", b"   ", b"\n\n", b'"\n"', b",,,,", b"\t", "é".encode()]

edits = st.lists(
    st.tuples(
        st.integers(0, len(BASE)),
        st.integers(0, 40),
        st.sampled_from(NASTY) | st.binary(max_size=12),
    ),
    min_size=1,
    max_size=12,
)


def _mutate(edits_: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(BASE)
    for at, cut, insert in edits_:
        data[at : at + cut] = insert
    return bytes(data)


@pytest.mark.filterwarnings("ignore:CSV malformed")  # Polars' note on a stray quote
@pytest.mark.parametrize("path_kind", ["whole-file", "block-by-block", "gzip"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits_=edits)
def test_mutated_csv_gives_a_frame_or_a_coded_error(tmp_path, monkeypatch, path_kind, edits_):
    monkeypatch.setattr(read_mod, "BLOCK", 3_000)  # many blocks, several parsing at once
    if path_kind == "block-by-block":
        monkeypatch.setattr(read_mod, "WHOLE_FILE_MAX", 0)
    data = _mutate(edits_)
    path = tmp_path / "mutated.csv"
    path.write_bytes(gzip.compress(data) if path_kind == "gzip" else data)
    try:
        frame = read_flight(path)
    except FlightDataError as exc:
        assert exc.code in ERROR_CODES
        return
    assert frame.data.height > 0
