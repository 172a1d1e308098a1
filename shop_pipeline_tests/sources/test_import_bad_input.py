"""Bad input across the CSV adapters: a header repeated in the middle of the file, mixed or
regional date formats, a mapping naming a missing column; nothing half-imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop_pipeline.sources.importer import ImportFailed, import_files
from shop_pipeline_tests.sources.test_adapters import FIXTURES, _ingest_and_stage, _landing_rows, _rejects

REPEATED = [
    ("retailrocket", "retailrocket_events.csv", None),
    ("online_retail", "online_retail_uci.csv", None),
    ("generic", "generic_orders.csv", FIXTURES / "generic_orders.yaml"),
]


@pytest.mark.parametrize(("fmt", "name", "mapping"), REPEATED)
def test_a_repeated_header_line_is_an_import_reject_and_the_other_lines_keep_their_numbers(
    tmp_path, fmt, name, mapping
):
    lines = (FIXTURES / name).read_text().splitlines()
    source = tmp_path / "src" / name
    source.parent.mkdir()
    source.write_text("\n".join([*lines[:3], lines[0], *lines[3:]]) + "\n")  # header again as record 3
    clean_landing = tmp_path / "clean" / "landing"
    landing = tmp_path / "home" / "landing"
    (clean_report,) = import_files(fmt, [FIXTURES / name], clean_landing, mapping)
    (report,) = import_files(fmt, [source], landing, mapping)
    assert (report.rows, report.rejects) == (clean_report.rows, 1)
    assert [
        (r["line"], r["reason"], r["raw"]) for r in _rejects(landing / "import_rejects" / f"{fmt}_{source.stem}.csv")
    ] == [("3", "repeated header line", lines[0].replace(";", ","))]
    stem = source.stem
    renumbered = {
        f"{fmt}:{stem}:{n if n < 3 else n + 1}": {k: v for k, v in row.items() if k not in ("event_id",)}
        for n, row in ((int(i.rsplit(":", 1)[1]), r) for i, r in _landing_rows(clean_landing).items())
    }
    assert {i: {k: v for k, v in r.items() if k != "event_id"} for i, r in _landing_rows(landing).items()} == renumbered
    _ingest_and_stage(tmp_path, landing)  # conservation per landed file


def _online_retail(tmp_path: Path, dates: list[str]) -> Path:
    source = tmp_path / "invoices.csv"
    rows = [f"5{n},2{n},ITEM,1,{d},1.50,1234{n},United Kingdom" for n, d in enumerate(dates)]
    source.write_text(
        "\n".join(["Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country", *rows]) + "\n"
    )
    return source


def test_online_retail_day_first_dates_are_recognised(tmp_path):
    source = _online_retail(tmp_path, ["01/12/2010 08:26", "13/12/2010 09:00", "2010-12-14 10:00:00"])
    import_files("online_retail", [source], tmp_path / "landing")
    times = [r["event_time"] for r in sorted(_landing_rows(tmp_path / "landing").values(), key=lambda r: r["event_id"])]
    assert times == ["2010-12-01T08:26:00Z", "2010-12-13T09:00:00Z", "2010-12-14T10:00:00Z"]


def test_online_retail_month_first_by_default(tmp_path):
    source = _online_retail(tmp_path, ["12/1/2010 8:26", "12/13/2010 9:00"])
    import_files("online_retail", [source], tmp_path / "landing")
    times = sorted(r["event_time"] for r in _landing_rows(tmp_path / "landing").values())
    assert times == ["2010-12-01T08:26:00Z", "2010-12-13T09:00:00Z"]


def test_online_retail_mixed_day_and_month_first_is_an_error_naming_lines_and_column(tmp_path):
    source = _online_retail(tmp_path, ["01/12/2010 08:26", "13/12/2010 09:00", "12/14/2010 10:00"])
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed) as caught:
        import_files("online_retail", [FIXTURES / "online_retail_ii.csv", source], landing)
    assert str(caught.value) == (
        f"{source}: column InvoiceDate mixes day/month/year (line 3: 13/12/2010 09:00) and month/day/year "
        "(line 4: 12/14/2010 10:00): export the dates in one format"
    )
    assert not landing.exists() or not [p for p in landing.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("rees46", "event_time,event_type\n2019-10-01 00:00:00 UTC,view\n", "missing columns product_id"),
        ("retailrocket", "timestamp,visitorid,event,itemid\n1,2,view,3\n", "missing columns transactionid"),
        (
            "online_retail",
            "Invoice,StockCode,Quantity,InvoiceDate,Price\n1,2,3,2010-12-01 08:00:00,1.0\n",
            "missing columns Customer ID/CustomerID",
        ),
        ("retailrocket", "", "empty file: no header line"),
    ],
)
def test_missing_columns_name_the_file_and_every_missing_column(tmp_path, fmt, text, message):
    source = tmp_path / "data.csv"
    source.write_text(text)
    with pytest.raises(ImportFailed) as caught:
        import_files(fmt, [source], tmp_path / "landing")
    assert str(caught.value).startswith(f"{source}: ") and message in str(caught.value)
    assert not (tmp_path / "landing").exists()


def test_unparseable_and_mixed_times_in_rees46_are_quarantined_with_the_raw_text(tmp_path):
    source = tmp_path / "events.csv"
    header = (FIXTURES / "rees46_events.csv").read_text().splitlines()[0]
    rest = ",view,1,2,,b,1.00,7,s1"
    source.write_text(
        "\n".join(
            [
                header,
                "2019-10-01 00:00:00 UTC" + rest,
                "2019-10-01T01:00:00+02:00" + rest,
                "2019-10-01T05:00:00Z" + rest,
                "01/10/2019 06:00" + rest,
            ]
        )
        + "\n"
    )
    landing = tmp_path / "home" / "landing"
    import_files("rees46", [source], landing)
    rows = _landing_rows(landing)
    assert [rows[f"rees46:events:{n}"]["event_time"] for n in (1, 2, 3, 4)] == [
        "2019-10-01T00:00:00Z",
        "2019-09-30T23:00:00Z",
        "2019-10-01T05:00:00Z",
        "01/10/2019 06:00",
    ]
    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert quarantined == {"rees46:events:4": "unparseable_event_time"} and len(clean) == 3


@pytest.mark.parametrize(("bad_line", "lines"), [(1, 3), (3, 5), (5, 5), (3000, 3002)])
def test_generic_jsonl_error_names_the_bad_line_itself(tmp_path, bad_line, lines):
    """Issue 13 item 10: DuckDB's line count (one too high) was passed through. A bad line past
    DuckDB's schema sample fails in the conversion, not the DESCRIBE: both name the line."""
    good = '{"customer": "u1", "sku": "p1", "ts": "2025-01-04T10:00:00Z", "amount": "1.50"}'
    text = [good] * lines
    text[bad_line - 1] = '{"customer": oops'
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(text) + "\n")
    mapping = {
        "columns": {"user_id": "customer", "product_id": "sku", "event_time": "ts", "price": "amount"},
        "constants": {"event_type": "view"},
    }
    with pytest.raises(ImportFailed, match=rf"events\.jsonl: .*\bline {bad_line}: malformed JSON") as caught:
        import_files("generic", [source], tmp_path / "landing", mapping)
    assert f"line {bad_line + 1}" not in str(caught.value)
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").rglob("*.csv"))
