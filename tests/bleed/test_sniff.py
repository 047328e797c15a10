import gzip

from hypothesis import given
from hypothesis import strategies as st

from nubo.bleed.sniff import detect_format


def test_gzip_magic_is_csv_gz():
    assert detect_format(gzip.compress(b"time_s,cas_kt\n0,1\n")) == "csv.gz"


def test_parquet_magic_is_parquet():
    assert detect_format(b"PAR1\x15\x04\x15") == "parquet"


def test_comma_header_is_csv():
    assert detect_format(b"time_s,alt_std_ft,cas_kt\n0,1,2\n") == "csv"


def test_semicolon_header_with_bom_is_csv():
    assert detect_format(b"\xef\xbb\xbftime_s;ALT STD;CAS\r\n0;1;2\r\n") == "csv"


def test_head_cut_inside_a_multibyte_character_is_still_csv():
    head = "time_s,température\n0,1\n".encode()
    assert detect_format(head[: head.index(b"\xc3") + 1]) == "csv"


def test_binary_garbage_is_not_recognised():
    assert detect_format(bytes(range(256))) is None


def test_latin1_text_is_not_csv():
    assert detect_format("time_s,temp\xe9rature\n".encode("latin-1")) is None


def test_text_without_delimited_names_is_not_csv():
    assert detect_format(b"hello world\nthis is prose\n") is None
    assert detect_format(b"") is None


@given(st.binary(max_size=4096))
def test_detect_format_never_raises_on_arbitrary_bytes(head):
    assert detect_format(head) in (None, "csv", "csv.gz", "parquet")
