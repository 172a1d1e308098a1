"""Source adapters: hand-written fixtures of each public format are converted into canonical
landing files, then ingested and staged with the plain warehouse functions."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from shop_pipeline.cli import main
from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.importer import ImportFailed, import_files
from shop_pipeline.sources.landing import discover
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.warehouse.helpers import run_days

FIXTURES = Path(__file__).parent / "fixtures"


def _landing_rows(landing: Path) -> dict[str, dict]:
    """Every landed row by event_id, with the landing file it is in."""
    out = {}
    for path in sorted((landing / "events").glob("*.parquet")):
        rel = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
        assert rel.columns == list(EVENT_COLUMNS)
        assert {str(t) for t in rel.types} == {"VARCHAR"}
        for row in rel.fetchall():
            record = dict(zip(EVENT_COLUMNS, row, strict=True))
            record["file"] = path.name
            out[record["event_id"]] = record
    return out


def _ingest_and_stage(tmp_path: Path, landing: Path):
    """Ingest + stage every landed day; conservation is asserted per file by the helper.
    Returns the file counts, clean event ids and {event_id: reason_code} of the quarantine."""
    days = sorted({f.day for f in discover(landing)})
    with connect(tmp_path / "shop.duckdb") as con:
        report = run_days(con, landing, days)
        assert not report.failed
        counts = con.execute("SELECT path, rows_read FROM raw.ingested_files ORDER BY path").fetchall()
        clean = {r[0] for r in con.execute("SELECT event_id FROM staging.events").fetchall()}
        quarantined = dict(con.execute("SELECT event_id, reason_code FROM staging.quarantined_events").fetchall())
        duplicates = con.execute("SELECT count(*) FROM staging.duplicate_events").fetchall()[0][0]
    rows_read = sum(r[1] for r in counts)
    assert rows_read == len(clean) + len(quarantined) + duplicates
    return counts, clean, quarantined


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _ids(fmt: str, stem: str, lines) -> set[str]:
    return {f"{fmt}:{stem}:{n}" for n in lines}


def _import(tmp_path: Path, fmt: str, *names: str, home: str = "home"):
    landing = tmp_path / home / "landing"
    sources = [FIXTURES / n for n in names]
    return landing, import_files(fmt, sources, landing)


def _landed_bytes(landing: Path) -> dict[str, bytes]:
    return {p.relative_to(landing).as_posix(): p.read_bytes() for p in sorted(landing.rglob("*")) if p.is_file()}


# --- rees46 ------------------------------------------------------------------------------


def test_rees46_conversion_lineage_and_staging(tmp_path):
    landing, reports = _import(tmp_path, "rees46", "rees46_events.csv")
    assert reports[0].rows == 8 and reports[0].rejects == 1  # line 6 repeats the header
    rows = _landing_rows(landing)
    assert sorted({r["file"] for r in rows.values()}) == [
        "rees46_rees46_events_2019-10-01.parquet",
        "rees46_rees46_events_2019-10-02.parquet",
    ]
    assert set(rows) == _ids("rees46", "rees46_events", [1, 2, 3, 4, 5, 7, 8, 9])
    rejects = _rejects(landing / "import_rejects" / "rees46_rees46_events.csv")
    assert [(r["line"], r["reason"], r["raw"]) for r in rejects] == [
        ("6", "repeated header line", (FIXTURES / "rees46_events.csv").read_text().splitlines()[0])
    ]
    first = rows["rees46:rees46_events:1"]
    assert first["event_time"] == "2019-10-01T00:00:00Z"
    assert first["category"] == "2103807459595387724"  # no category_code: the id
    assert first["session_id"] == "72d76fde-8bb3-4e00-8c23-a032dfed738c"
    assert first["quantity"] == "1" and first["order_id"] is None and first["price"] == "35.79"
    # +02:00 offset: 2019-10-02 01:30 local is the previous UTC day
    purchase = rows["rees46:rees46_events:4"]
    assert purchase["event_time"] == "2019-10-01T23:30:00Z"
    assert purchase["file"].endswith("2019-10-01.parquet")
    assert purchase["order_id"] == purchase["session_id"] == "9333dfbd-b87a-4708-9857-6336556b0fcc"
    assert purchase["category"] == "appliances.environment.water_heater"
    # unparseable time: raw text kept, in the file of the first day
    assert rows["rees46:rees46_events:8"]["event_time"] == "Oct 2 2019 9am"
    assert rows["rees46:rees46_events:8"]["file"].endswith("2019-10-01.parquet")

    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == _ids("rees46", "rees46_events", [1, 2, 3, 4])
    prefix = "rees46:rees46_events:"
    assert quarantined == {
        prefix + "5": "missing_order_id",  # purchase without a session
        prefix + "7": "missing_user_id",
        prefix + "8": "unparseable_event_time",
        prefix + "9": "unknown_event_type",
    }


# --- cdnow -------------------------------------------------------------------------------


def test_cdnow_headerless_log_conversion_rejects_and_staging(tmp_path):
    landing, reports = _import(tmp_path, "cdnow", "cdnow_master.txt")
    # 8 physical lines: one blank (skipped), one with two fields (import reject), six rows
    assert reports[0].rows == 6 and reports[0].rejects == 1
    rows = _landing_rows(landing)
    assert set(rows) == _ids("cdnow", "cdnow_master", [1, 2, 3, 5, 6, 7])
    r3 = rows["cdnow:cdnow_master:3"]
    assert (r3["user_id"], r3["event_time"], r3["event_type"], r3["product_id"]) == (
        "00002",
        "1997-01-12T00:00:00Z",
        "purchase",
        "cdnow",
    )
    assert (r3["quantity"], r3["price"], r3["order_id"]) == ("5", "15.4", "00002-19970112-3")
    assert rows["cdnow:cdnow_master:6"]["event_time"] == "1997013x"
    rejects = (landing / "import_rejects" / "cdnow_cdnow_master.csv").read_text().splitlines()
    assert rejects[0] == "file,line,column,reason,raw"
    assert ',8,line,"expected 4 whitespace-separated fields, found 2",00005 19970103' in rejects[1]

    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == _ids("cdnow", "cdnow_master", [1, 2, 3, 5])
    assert quarantined == {"cdnow:cdnow_master:6": "unparseable_event_time", "cdnow:cdnow_master:7": "invalid_quantity"}


def test_cdnow_with_header_and_tabs(tmp_path):
    landing, _ = _import(tmp_path, "cdnow", "cdnow_with_header.txt")
    rows = _landing_rows(landing)
    assert set(rows) == _ids("cdnow", "cdnow_with_header", [1, 2])  # line 1 is the first after the header
    assert rows["cdnow:cdnow_with_header:2"]["price"] == "10.0"
    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == set(rows) and not quarantined


def test_cdnow_text_customer_ids_on_the_first_line_are_data_not_a_header(tmp_path):
    source = tmp_path / "log.txt"
    source.write_text("u000005 20250101 3 44.97\nu000133 20250102 2 11.98\n")
    landing = tmp_path / "home" / "landing"
    import_files("cdnow", [source], landing)
    assert set(_landing_rows(landing)) == _ids("cdnow", "log", [1, 2])


# --- online retail -----------------------------------------------------------------------


def test_online_retail_both_spellings_cancellations_and_guests(tmp_path):
    landing, reports = _import(tmp_path, "online_retail", "online_retail_ii.csv", "online_retail_uci.csv")
    assert [r.notes for r in reports] == [
        {"cancellations": 2, "guest_rows": 2},
        {"cancellations": 1, "guest_rows": 1},
    ]
    rows = _landing_rows(landing)
    first = rows["online_retail:online_retail_ii:1"]
    assert (first["user_id"], first["order_id"], first["session_id"], first["product_id"]) == (
        "13085",
        "489434",
        "489434",
        "85048",
    )
    assert (first["event_time"], first["price"], first["quantity"], first["event_type"]) == (
        "2009-12-01T07:45:00Z",
        "6.95",
        "12",
        "purchase",
    )
    assert rows["online_retail:online_retail_ii:4"]["user_id"] == "guest:489436"
    uci = rows["online_retail:online_retail_uci:1"]
    assert (uci["event_time"], uci["price"], uci["user_id"]) == ("2010-12-01T08:26:00Z", "2.55", "17850")
    assert rows["online_retail:online_retail_uci:3"]["quantity"] == "-1"
    assert rows["online_retail:online_retail_ii:6"]["quantity"] == "-3"  # a 'C' invoice is a cancellation
    assert rows["online_retail:online_retail_uci:5"]["event_time"] == "13/45/2010 11:57"

    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == _ids("online_retail", "online_retail_ii", [1, 2, 4]) | _ids(
        "online_retail", "online_retail_uci", [1, 2, 4]
    )
    assert quarantined == {
        "online_retail:online_retail_ii:3": "invalid_quantity",  # cancellation
        "online_retail:online_retail_ii:5": "negative_price",  # bad-debt adjustment
        "online_retail:online_retail_ii:6": "invalid_quantity",  # 'C' invoice, positive quantity in the file
        "online_retail:online_retail_uci:3": "invalid_quantity",  # cancellation
        "online_retail:online_retail_uci:5": "unparseable_event_time",
    }


# --- retailrocket ------------------------------------------------------------------------


def test_retailrocket_epoch_milliseconds_and_event_names(tmp_path):
    landing, _ = _import(tmp_path, "retailrocket", "retailrocket_events.csv")
    rows = _landing_rows(landing)
    p = "retailrocket:retailrocket_events:"
    assert rows[p + "1"]["event_time"] == "2015-06-02T05:02:12Z"
    assert rows[p + "1"]["file"] == "retailrocket_retailrocket_events_2015-06-02.parquet"
    assert rows[p + "2"]["event_type"] == "cart"
    assert (rows[p + "3"]["event_type"], rows[p + "3"]["order_id"], rows[p + "3"]["price"]) == ("purchase", "4000", "0")
    assert rows[p + "3"]["file"].endswith("2015-06-01.parquet")

    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == _ids("retailrocket", "retailrocket_events", [1, 2, 3, 4])
    assert quarantined == {p + "5": "missing_user_id", p + "6": "unparseable_event_time", p + "7": "unknown_event_type"}


# --- every format: determinism, exactly-once, bad input ----------------------------------


CASES = [
    ("rees46", "rees46_events.csv"),
    ("cdnow", "cdnow_master.txt"),
    ("online_retail", "online_retail_ii.csv"),
    ("retailrocket", "retailrocket_events.csv"),
]


@pytest.mark.parametrize(("fmt", "name"), CASES)
def test_import_is_deterministic_and_reimport_adds_nothing(tmp_path, fmt, name):
    landing_a, _ = _import(tmp_path, fmt, name, home="a")
    landing_b, _ = _import(tmp_path, fmt, name, home="b")
    assert _landed_bytes(landing_a) == _landed_bytes(landing_b)
    before = _landed_bytes(landing_a)
    _, reports = _import(tmp_path, fmt, name, home="a")
    assert _landed_bytes(landing_a) == before
    assert sorted(reports[0].unchanged) == sorted(reports[0].written)
    # ingesting the landed files again adds nothing
    days = sorted({f.day for f in discover(landing_a)})
    with connect(tmp_path / "shop.duckdb") as con:
        run_days(con, landing_a, days)
        first = con.execute("SELECT count(*) FROM raw.events").fetchall()[0][0]
        run_days(con, landing_a, days)
        assert con.execute("SELECT count(*) FROM raw.events").fetchall()[0][0] == first


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("rees46", "online_retail_ii.csv"),
        ("online_retail", "rees46_events.csv"),
        ("retailrocket", "cdnow_master.txt"),
        ("cdnow", "rees46_events.csv"),
    ],
)
def test_wrong_format_flag_is_a_clear_error_and_writes_nothing(tmp_path, fmt, name):
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed) as caught:
        import_files(fmt, [FIXTURES / name], landing)
    assert name in str(caught.value) and f"not a {fmt} file" in str(caught.value)
    assert not landing.exists() or not [p for p in landing.rglob("*") if p.is_file()]


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ImportFailed) as caught:
        import_files("rees46", [FIXTURES / "online_retail_ii.csv"], tmp_path / "landing")
    message = str(caught.value)
    assert "online_retail_ii.csv" in message and "not a rees46 file" in message
    assert "missing columns event_time, event_type, product_id" in message


def test_a_later_bad_file_leaves_nothing_of_the_earlier_ones(tmp_path):
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed, match=r"online_retail_ii\.csv"):
        import_files("rees46", [FIXTURES / "rees46_events.csv", FIXTURES / "online_retail_ii.csv"], landing)
    assert not [p for p in landing.rglob("*") if p.is_file()]


def test_unknown_format(tmp_path):
    with pytest.raises(ImportFailed, match="unknown format 'shopify'"):
        import_files("shopify", [FIXTURES / "rees46_events.csv"], tmp_path / "landing")


def test_a_different_file_with_the_same_name_is_refused(tmp_path):
    landing = tmp_path / "landing"
    import_files("cdnow", [FIXTURES / "cdnow_master.txt"], landing)
    before = _landed_bytes(landing)
    other = tmp_path / "src" / "cdnow_master.txt"
    other.parent.mkdir()
    shutil.copy(FIXTURES / "cdnow_with_header.txt", other)
    other.write_text("00001 19970101 2 10.00\n")
    with pytest.raises(ImportFailed, match="different content"):
        import_files("cdnow", [other], landing)
    assert _landed_bytes(landing) == before


def test_cli_import(tmp_path, capsys, monkeypatch):
    home = tmp_path / "shop"
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(home))  # --home sets it: restored after the test
    code = main(["import", "--format", "cdnow", str(FIXTURES / "cdnow_master.txt"), "--home", str(home)])
    assert code == 0
    out = capsys.readouterr().out
    assert "6 rows into 3 landing file(s), 1 unmappable line(s)" in out
    assert (home / "landing" / "events" / "cdnow_cdnow_master_1997-01-01.parquet").is_file()
    code = main(["import", "--format", "rees46", str(FIXTURES / "cdnow_master.txt"), "--home", str(home)])
    assert code == 1
    assert "not a rees46 file" in capsys.readouterr().err


def test_cli_import_reports_each_file_and_records_the_first_partition_once(tmp_path, capsys, monkeypatch):
    """One line per source file; the first import records the data's first day as the first partition,
    a re-import says what was already there, and data older than the recorded start is named with the
    setting that would move it back."""
    from shop_pipeline.settings import PARTITIONS_START_ENV, ShopPaths, recorded_partitions_start

    home = tmp_path / "shop"
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(home))
    monkeypatch.delenv(PARTITIONS_START_ENV, raising=False)
    master, with_header = FIXTURES / "cdnow_master.txt", FIXTURES / "cdnow_with_header.txt"

    assert main(["import", "--format", "cdnow", str(master), str(with_header), "--home", str(home)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{master}: 6 rows into 3 landing file(s), 1 unmappable line(s)",
        f"{with_header}: 2 rows into 2 landing file(s), 0 unmappable line(s)",
        "first partition: 1997-01-01 (recorded in the shop home from the imported data)",
    ]
    assert recorded_partitions_start(ShopPaths.at(home)).isoformat() == "1997-01-01"

    # the same file again: nothing new (3 landing files and the rejects file), and the start is not moved
    assert main(["import", "--format", "cdnow", str(master), "--home", str(home)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{master}: 6 rows into 3 landing file(s), 1 unmappable line(s) (4 already imported, unchanged)"
    ]

    earlier = tmp_path / "earlier.txt"
    earlier.write_text("00001 19961231 2 10.00\n")
    assert main(["import", "--format", "cdnow", str(earlier), "--home", str(home)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{earlier}: 1 rows into 1 landing file(s), 0 unmappable line(s)",
        "the data starts on 1996-12-31, before the shop's first partition 1997-01-01: its files dated earlier "
        "will be refused; set SHOP_PIPELINE_PARTITIONS_START=1996-12-31 to move it back",
    ]
    assert recorded_partitions_start(ShopPaths.at(home)).isoformat() == "1997-01-01"


def test_a_line_with_too_many_fields_is_an_error_naming_file_and_line(tmp_path):
    source = tmp_path / "events.csv"
    lines = (FIXTURES / "rees46_events.csv").read_text().splitlines()
    source.write_text("\n".join([*lines[:3], lines[3] + ",extra", *lines[4:]]) + "\n")
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed) as caught:
        import_files("rees46", [source], landing)
    message = str(caught.value)
    assert "events.csv" in message and "Line: 4" in message and "Expected Number of Columns: 9 Found: 10" in message
    # one line: DuckDB's first three lines joined by spaces, without its advice on its own parser options
    assert f"Line: 4 Original Line: {lines[3]},extra Expected Number of Columns: 9 Found: 10" in message
    assert message.endswith("Found: 10") and "\n" not in message
    assert not landing.exists() or not [p for p in landing.rglob("*") if p.is_file()]


def test_crlf_line_endings_give_the_same_rows(tmp_path):
    source = tmp_path / "crlf" / "rees46_events.csv"
    source.parent.mkdir()
    source.write_bytes((FIXTURES / "rees46_events.csv").read_bytes().replace(b"\n", b"\r\n"))
    a = tmp_path / "a" / "landing"
    b = tmp_path / "b" / "landing"
    import_files("rees46", [FIXTURES / "rees46_events.csv"], a)
    import_files("rees46", [source], b)
    assert _landed_bytes(a / "events") == _landed_bytes(b / "events")  # the rejects file names its source


def test_retailrocket_category_from_item_properties_as_of_the_event(tmp_path):
    landing = tmp_path / "landing"
    props = FIXTURES / "retailrocket_item_properties.csv"
    reports = import_files("retailrocket", [props, FIXTURES / "retailrocket_events.csv"], landing)
    assert [r.source.name for r in reports] == ["retailrocket_events.csv"]  # properties are not landed
    rows = _landing_rows(landing)
    p = "retailrocket:retailrocket_events:"
    assert rows[p + "1"]["category"] == "1173"  # the later value (2015-06-07) is not yet known on 06-02
    assert rows[p + "2"]["category"] == "491"
    assert rows[p + "3"]["category"] is None  # only a non-category property
    assert len(rows) == 7
    again = tmp_path / "again"
    import_files("retailrocket", [FIXTURES / "retailrocket_events.csv", props], again)
    assert _landed_bytes(landing) == _landed_bytes(again)
    _, clean, _ = _ingest_and_stage(tmp_path, landing)
    assert clean == _ids("retailrocket", "retailrocket_events", [1, 2, 3, 4])


def test_retailrocket_item_properties_alone_is_an_error(tmp_path):
    with pytest.raises(ImportFailed, match="without a RetailRocket events file"):
        import_files("retailrocket", [FIXTURES / "retailrocket_item_properties.csv"], tmp_path / "landing")
    assert not (tmp_path / "landing").exists()


def test_cdnow_edge_files_blank_first_line_empty_file_bad_bytes_short_first_line(tmp_path):
    """A leading blank line is no header (the lines keep their physical numbers); an empty file imports
    nothing; bytes that are not text, or a first line of two fields, are refused naming the line."""
    src = tmp_path / "src"
    src.mkdir()
    blank = src / "blank.txt"
    blank.write_text("\n00001 19970101 2 10.00\n00002 19970102 1 5.00\n")
    landing = tmp_path / "blank" / "landing"
    (report,) = import_files("cdnow", [blank], landing)
    assert (report.rows, report.rejects) == (2, 0)
    assert set(_landing_rows(landing)) == {"cdnow:blank:2", "cdnow:blank:3"}

    empty = src / "empty.txt"
    empty.write_text("")
    (report,) = import_files("cdnow", [empty], tmp_path / "empty" / "landing")
    assert (report.rows, report.rejects, report.written) == (0, 0, [])

    bad = src / "bad.txt"
    bad.write_bytes(b"00001 19970101 2 10.00\n\xff\xfe 19970102 1 5\n")
    with pytest.raises(ImportFailed) as refused:
        import_files("cdnow", [bad], tmp_path / "bad" / "landing")
    assert str(refused.value) == f"{bad}: cannot read it as text: Invalid Input Error: CSV Error on Line: 2"

    short = src / "short.txt"
    short.write_text("00001 19970101\n00001 19970101 2 10.00\n")
    with pytest.raises(ImportFailed) as refused:
        import_files("cdnow", [short], tmp_path / "short" / "landing")
    assert str(refused.value) == (
        f"{short}: line 1: not a cdnow file: expected 4 whitespace-separated fields "
        "`customer_id date quantity amount`, found 2"
    )


def test_cdnow_checks_the_first_data_line_after_an_optional_header(tmp_path):
    """The field-count check looks at the first data line: the one after a header (whatever the header
    looks like), else the first line; it names that line."""
    src = tmp_path / "src"
    src.mkdir()
    cases = {
        "short_header.txt": ("customer date amount\n00001 19970101 2 10.00\n", None),
        "bad_first.txt": ("00001 19970101 2\n00001 19970101 2 10.00\n", 1),
        "header_bad_first.txt": ("customer_id date count amount\n00001 19970101 2\n00001 19970101 2 10.00\n", 2),
    }
    for name, (text, bad_line) in cases.items():
        source = src / name
        source.write_text(text)
        landing = tmp_path / name / "landing"
        if bad_line is None:
            (report,) = import_files("cdnow", [source], landing)
            assert (report.rows, report.rejects) == (1, 0)
            continue
        with pytest.raises(ImportFailed) as refused:
            import_files("cdnow", [source], landing)
        assert str(refused.value) == (
            f"{source}: line {bad_line}: not a cdnow file: expected 4 whitespace-separated fields "
            "`customer_id date quantity amount`, found 3"
        )
