"""What every CSV format reads first: the header line (sources/adapter.py), and a mapping given to a format
that takes none: refusals that name the file, the line and what is wrong."""

import pytest

from shop_pipeline.sources.adapter import ImportFailed, csv_header, quote_ident
from shop_pipeline.sources.formats import ADAPTERS, adapter_for


def test_the_header_names_are_trimmed_and_a_byte_order_mark_or_crlf_is_not_part_of_them(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes("\ufeffevent_time, user_id ,BOX\r\n1,2,3\r\n".encode())
    assert csv_header(path) == ["event_time", "user_id", "BOX"]  # a name ending in X keeps it


def test_repeated_columns_are_refused_naming_each_once(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("b,a,b,a,a,c\n1,2,3,4,5,6\n")
    with pytest.raises(ImportFailed) as refused:
        csv_header(path)
    assert str(refused.value) == f"{path}: line 1: repeated columns a, b"
    path.write_text("a,b,c\n")
    assert csv_header(path) == ["a", "b", "c"]


def test_a_header_that_is_not_utf8_is_refused_with_the_line(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(b"event_time,us\xe9r\n1,2\n")
    with pytest.raises(ImportFailed) as refused:
        csv_header(path)
    assert str(refused.value) == f"{path}: line 1: the header is not valid UTF-8"


def test_a_mapping_given_to_a_format_that_takes_none_is_refused_naming_the_format():
    for name in ("rees46", "cdnow"):
        with pytest.raises(ImportFailed) as refused:
            adapter_for(name).checked_mapping({"event_time": "ts"})
        assert str(refused.value) == f"the {name} format takes no mapping"
    assert "generic" in ADAPTERS


def test_a_column_name_is_quoted_as_one_sql_identifier_whatever_it_holds():
    assert quote_ident('say "hi"') == '"say ""hi"""'
    assert quote_ident("plain") == '"plain"'
