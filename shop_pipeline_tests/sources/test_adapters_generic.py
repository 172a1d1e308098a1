"""The generic adapter: any CSV / Parquet / JSON Lines file with a YAML mapping."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from shop_pipeline.cli import main
from shop_pipeline.sources.importer import ImportFailed, import_files
from shop_pipeline_tests.sources.test_adapters import FIXTURES, _ids, _ingest_and_stage, _landed_bytes, _landing_rows


def _import(tmp_path: Path, source: Path, mapping, home: str = "home"):
    landing = tmp_path / home / "landing"
    return landing, import_files("generic", [source], landing, mapping)


def test_purchases_log_with_constant_event_type_and_mixed_time_formats(tmp_path):
    landing, reports = _import(tmp_path, FIXTURES / "generic_orders.csv", FIXTURES / "generic_orders.yaml")
    assert reports[0].rows == 6
    rows = _landing_rows(landing)
    p = "generic:generic_orders:"
    assert set(rows) == _ids("generic", "generic_orders", range(1, 7))
    first = rows[p + "1"]
    assert (first["event_time"], first["event_type"], first["user_id"], first["product_id"]) == (
        "2024-03-01T09:15:00Z",
        "purchase",
        "c1",
        "p-10",
    )
    assert (first["price"], first["quantity"], first["order_id"]) == ("9.99", "2", "A-1")
    assert rows[p + "3"]["event_time"] == "2024-03-03T01:30:00Z"  # -02:00 offset -> next UTC day
    assert rows[p + "5"]["event_time"] == "31/02/2024 10:00"  # no such day: raw text kept

    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == _ids("generic", "generic_orders", [1, 2, 3])
    assert quarantined == {p + "4": "missing_user_id", p + "5": "unparseable_event_time", p + "6": "invalid_quantity"}


def test_jsonl_with_epoch_milliseconds_and_event_names(tmp_path):
    landing, _ = _import(tmp_path, FIXTURES / "generic_clicks.jsonl", FIXTURES / "generic_clicks.yaml")
    rows = _landing_rows(landing)
    p = "generic:generic_clicks:"
    assert [rows[p + str(n)]["event_type"] for n in (1, 2, 3, 4)] == ["view", "cart", "purchase", "share"]
    assert rows[p + "1"]["event_time"] == "2024-03-01T08:00:00Z"
    assert rows[p + "3"]["order_id"] == "o9" and rows[p + "1"]["order_id"] is None

    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == _ids("generic", "generic_clicks", [1, 2, 3])
    assert quarantined == {p + "4": "unknown_event_type"}


def test_parquet_ratings_log_gets_one_order_per_line(tmp_path):
    source = tmp_path / "ratings.parquet"
    duckdb.sql(
        "COPY (SELECT * FROM (VALUES (1, 10, TIMESTAMP '2024-05-01 10:00:00', 4.0), "
        "(2, 11, TIMESTAMP '2024-05-02 11:00:00', 5.0)) AS t(user, movie, rated_at, rating)) "
        f"TO '{source}' (FORMAT parquet)"
    )
    mapping = {
        "columns": {"user_id": "user", "product_id": "movie", "event_time": "rated_at"},
        "constants": {"event_type": "purchase", "price": "0"},
    }
    landing, _ = _import(tmp_path, source, mapping)
    rows = _landing_rows(landing)
    assert rows["generic:ratings:2"]["event_time"] == "2024-05-02T11:00:00Z"
    assert rows["generic:ratings:2"]["order_id"] == "generic:ratings:2"
    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == {"generic:ratings:1", "generic:ratings:2"} and not quarantined


def test_generic_import_is_deterministic(tmp_path):
    a, _ = _import(tmp_path, FIXTURES / "generic_orders.csv", FIXTURES / "generic_orders.yaml", home="a")
    b, _ = _import(tmp_path, FIXTURES / "generic_orders.csv", FIXTURES / "generic_orders.yaml", home="b")
    assert _landed_bytes(a) == _landed_bytes(b)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {
                "columns": {"user_id": "customer", "product_id": "sku", "event_time": "when", "price": "unit_price"},
                "constants": {"event_type": "purchase"},
            },
            "generic_orders.csv: the mapping names columns the file has not got: event_time -> 'when'",
        ),
        (
            {"columns": {"user_id": "customer", "product_id": "sku", "event_time": "ordered_at"}},
            "no column or constant for event_type, price",
        ),
        ({"columns": {"user": "customer"}}, "user not canonical columns"),
        ({"colums": {}}, "unknown keys colums"),
        (
            {
                "columns": {
                    "user_id": "customer",
                    "product_id": "sku",
                    "event_time": "ordered_at",
                    "price": "unit_price",
                },
                "constants": {"event_type": "purchase"},
                "event_type_values": {"x": "buy"},
            },
            "buy not one of",
        ),
    ],
)
def test_bad_mapping_is_a_clear_error_and_writes_nothing(tmp_path, mapping, message):
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed) as caught:
        import_files("generic", [FIXTURES / "generic_orders.csv"], landing, mapping)
    assert message in str(caught.value)
    assert not landing.exists() or not [p for p in landing.rglob("*") if p.is_file()]


def test_mapping_only_with_generic(tmp_path):
    with pytest.raises(ImportFailed, match="needs a mapping"):
        import_files("generic", [FIXTURES / "generic_orders.csv"], tmp_path / "landing")
    with pytest.raises(ImportFailed, match="only for the generic format"):
        import_files("cdnow", [FIXTURES / "cdnow_master.txt"], tmp_path / "landing", FIXTURES / "generic_orders.yaml")


def test_cli_import_generic(tmp_path, capsys, monkeypatch):
    home = tmp_path / "shop"
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(home))  # --home sets it: restored after the test
    code = main(
        [
            "import",
            "--format",
            "generic",
            str(FIXTURES / "generic_orders.csv"),
            "--mapping",
            str(FIXTURES / "generic_orders.yaml"),
            "--home",
            str(home),
        ]
    )
    assert code == 0
    assert "6 rows into 3 landing file(s)" in capsys.readouterr().out
    assert (home / "landing" / "events" / "generic_generic_orders_2024-03-01.parquet").is_file()


GOOD_CLICK = b'{"u": "c1", "p": "p1", "t": "2024-03-01T08:00:00Z"}\n'
CLICK_MAPPING = {
    "columns": {"user_id": "u", "product_id": "p", "event_time": "t"},
    "constants": {"event_type": "view", "price": "1"},
}


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (b'{"u": "\xff"}\n', "line 3: not valid UTF-8"),
        (b'{"u": \n', "line 3: malformed JSON (Expecting value at character 8)"),
    ],
    ids=["not-utf8", "malformed"],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".NDJSON"])
def test_a_bad_json_lines_file_is_refused_naming_its_physical_line(tmp_path_factory, bad_line, reason, suffix):
    """The line a person opens in an editor (blank lines counted) and why, in the same words whatever
    the case of the .jsonl / .ndjson extension; nothing is landed."""
    tmp_path = tmp_path_factory.mktemp("events")  # a folder name without "json" in it: only DuckDB's words have it
    source = tmp_path / f"clicks{suffix}"
    source.write_bytes(GOOD_CLICK + b"\n" + bad_line)
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed) as caught:
        import_files("generic", [source], landing, CLICK_MAPPING)
    assert str(caught.value) == f"{source}: cannot read it: {reason}"
    assert not landing.exists() or not [p for p in landing.rglob("*") if p.is_file()]


def test_a_json_lines_line_that_is_not_an_object_is_named(tmp_path):
    """When DuckDB refuses a JSON Lines file, the first line that is not a JSON object is named (a file
    of objects only keeps DuckDB's own first line)."""
    from shop_pipeline.sources.generic import _reader_error

    error = duckdb.InvalidInputException('Malformed JSON in file "clicks.ndjson"\nmore detail')
    source = tmp_path / "clicks.ndjson"
    source.write_bytes(GOOD_CLICK + b"\n" + b"[1, 2]\n")
    assert _reader_error(source, error) == "line 3: the JSON value is not an object"
    source.write_bytes(GOOD_CLICK + b"\n" + GOOD_CLICK)
    assert _reader_error(source, error) == 'Malformed JSON in file "clicks.ndjson"'


def test_a_broken_parquet_file_gets_duckdbs_reason_even_under_a_json_name(tmp_path):
    """Only JSON Lines files are searched for their bad line: a Parquet file whose name says JSON keeps
    DuckDB's own reason."""
    source = tmp_path / "JSON_export.parquet"
    source.write_bytes(b"PAR1 not really\n")
    with pytest.raises(ImportFailed) as caught:
        import_files("generic", [source], tmp_path / "landing", CLICK_MAPPING)
    assert str(caught.value).startswith(f"{source}: cannot read it: Invalid Input Error: No magic bytes found")


def test_a_bad_mapping_file_is_an_error_naming_the_file(tmp_path):
    source = FIXTURES / "generic_orders.csv"
    cases = {
        "list.yaml": ("- columns\n", "expected a YAML mapping with a 'columns' section"),
        "broken.yaml": ("columns: [\n", "cannot read it: "),
        "unknown.yaml": (
            "colums: {}\n",
            "unknown keys colums (known: columns, constants, event_type_values, personal, time_format)",
        ),
    }
    for name, (text, reason) in cases.items():
        mapping = tmp_path / name
        mapping.write_text(text)
        with pytest.raises(ImportFailed) as refused:
            import_files("generic", [source], tmp_path / "landing", mapping)
        prefix = f"mapping {mapping}: " if name != "unknown.yaml" else f"{mapping}: "
        assert str(refused.value).startswith(prefix + reason), str(refused.value)
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ImportFailed, match=f"^mapping {missing}: cannot read it: "):
        import_files("generic", [source], tmp_path / "landing", missing)


@pytest.mark.parametrize(
    ("time_format", "raw"),
    [
        ("epoch_s", "1709283600"),
        ("epoch_ms", "1709283600000"),
        ("%Y-%m-%d %H o'clock", "2024-03-01 09 o'clock"),  # a quote inside the format
        (["%d/%m/%Y %H:%M", "epoch_s"], "1709283600"),  # the first format that parses
    ],
)
def test_time_formats_epochs_and_quoted_patterns(tmp_path, time_format, raw):
    source = tmp_path / "log.csv"
    source.write_text(f"user,sku,when\nc1,p1,{raw}\n")
    mapping = {
        "columns": {"user_id": "user", "product_id": "sku", "event_time": "when"},
        "constants": {"event_type": "purchase", "price": "5"},
        "time_format": time_format,
    }
    landing, _ = _import(tmp_path, source, mapping)
    assert _landing_rows(landing)["generic:log:1"]["event_time"] == "2024-03-01T09:00:00Z"


def test_quantity_is_a_column_a_constant_or_one(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text("user,sku,when,qty\nc1,p1,2024-03-01T09:00:00Z,3\n")
    base = {
        "columns": {"user_id": "user", "product_id": "sku", "event_time": "when"},
        "constants": {"event_type": "purchase", "price": "5"},
    }
    with_column = {**base, "columns": {**base["columns"], "quantity": "qty"}}
    with_constant = {**base, "constants": {**base["constants"], "quantity": "2"}}
    for name, mapping, quantity in (
        ("column", with_column, "3"),
        ("constant", with_constant, "2"),
        ("none", base, "1"),
    ):
        landing, _ = _import(tmp_path, source, mapping, home=name)
        assert _landing_rows(landing)["generic:log:1"]["quantity"] == quantity, name


@pytest.mark.parametrize(("name", "shown"), [("orders.txt", ".txt"), ("orders", "(none)")])
def test_an_unsupported_file_type_is_refused_naming_it(tmp_path, name, shown):
    source = tmp_path / name
    source.write_text("user,sku,when\nc1,p1,2024-03-01T09:00:00Z\n")
    with pytest.raises(ImportFailed) as refused:
        import_files("generic", [source], tmp_path / "landing", CLICK_MAPPING)
    assert str(refused.value) == f"{source}: unsupported file type {shown}: use .csv, .parquet or .jsonl"


def test_every_optional_column_and_constant_lands_quotes_included(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text(
        "user,sku,when,visit,kind,maker,action\n"
        "c1,p1,2024-03-01T09:00:00Z,s-9,kids' books,O'Brien,add'to'cart\n"
        "c2,p2,2024-03-01T10:00:00Z,s-8,toys,Acme,buy\n"
    )
    mapping = {
        "columns": {
            "user_id": "user",
            "product_id": "sku",
            "event_time": "when",
            "session_id": "visit",
            "category": "kind",
            "brand": "maker",
            "event_type": "action",
        },
        "constants": {"price": "5", "order_id": "bulk 'A'"},
        "event_type_values": {"add'to'cart": "cart", "buy": "purchase"},
    }
    landing, _ = _import(tmp_path, source, mapping)
    rows = _landing_rows(landing)
    first, second = rows["generic:log:1"], rows["generic:log:2"]
    assert (first["session_id"], first["category"], first["brand"]) == ("s-9", "kids' books", "O'Brien")
    assert (first["event_type"], second["event_type"]) == ("cart", "purchase")
    assert (first["order_id"], second["order_id"]) == (None, "bulk 'A'")  # an order is a purchase's only


def test_mapping_columns_the_file_has_not_got_are_all_named(tmp_path):
    source = tmp_path / "log.csv"
    source.write_text("user,sku,when\nc1,p1,2024-03-01T09:00:00Z\n")
    mapping = {**CLICK_MAPPING, "columns": {"user_id": "customer", "product_id": "item", "event_time": "when"}}
    with pytest.raises(ImportFailed) as refused:
        import_files("generic", [source], tmp_path / "landing", mapping)
    assert str(refused.value) == (
        f"{source}: the mapping names columns the file has not got: user_id -> 'customer', product_id -> 'item' "
        "(found: user, sku, when)"
    )
