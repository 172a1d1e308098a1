"""Side files (catalog, ad spend, promotions) have keys: repeats are set aside, conflicts fail by name."""

import datetime as dt

import pytest

from shop_pipeline.warehouse.catalog import SideFileError, load_catalog, load_marketing


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_repeated_ad_spend_line_is_set_aside_not_added_twice(con, tmp_path):
    ad_spend = _write(
        tmp_path / "ad_spend.csv",
        "date,category,ad_spend\n2025-01-01,shoes,100\n2025-01-01,bags,50\n2025-01-01,shoes,100\n",
    )
    rows, _ = load_marketing(con, ad_spend, tmp_path / "none.csv")
    assert rows == 2
    assert con.execute("SELECT sum(ad_spend) FROM raw.ad_spend WHERE category = 'shoes'").fetchall() == [(100.0,)]
    assert con.execute("SELECT file, line, reason FROM raw.side_file_rejects").fetchall() == [
        ("marketing/ad_spend.csv", 4, "repeats line 2 (date 2025-01-01, category shoes)")
    ]


def test_a_conflicting_catalog_line_fails_naming_both_lines_and_the_last_good_table_stays(con, tmp_path):
    catalog = _write(
        tmp_path / "products.csv",
        "product_id,name,category,brand,base_price,launched_on\np1,Shoe,shoes,acme,10.0,2024-01-01\n",
    )
    assert load_catalog(con, catalog) == 1
    _write(
        catalog,
        "product_id,name,category,brand,base_price,launched_on\n"
        "p1,Shoe,shoes,acme,10.0,2024-01-01\np2,Bag,bags,acme,5,\np1,Shoe,shoes,acme,12.5,2024-01-01\n",
    )
    with pytest.raises(
        SideFileError, match=r"catalog/products.csv: .*line 4 gives product_id p1 other values than line 2"
    ):
        load_catalog(con, catalog)
    assert con.execute("SELECT product_id, base_price FROM raw.products").fetchall() == [("p1", 10.0)]


def test_bad_values_are_set_aside_with_file_line_and_reason(con, tmp_path):
    catalog = _write(
        tmp_path / "products.csv",
        "product_id,name,category,brand,base_price,launched_on\n"
        'p1,"A ""quoted""\nname",shoes,acme,10,2024-01-01\n'
        "p2,Bag,bags,acme,cheap,2024-01-01\n"
        ",Nothing,bags,acme,1,2024-01-01\n"
        "p3,Hat,hats,acme,,2024-13-01\n"
        "p4,Cap,hats,acme,,\n",
    )
    assert load_catalog(con, catalog) == 2
    assert con.execute("SELECT line, reason FROM raw.side_file_rejects ORDER BY line").fetchall() == [
        (4, "base_price 'cheap' is not a number"),
        (5, "product_id is empty"),
        (6, "launched_on '2024-13-01' is not a date YYYY-MM-DD"),
    ]
    assert dict(con.execute("SELECT product_id, base_price FROM raw.products").fetchall())["p1"] == 10.0
    assert con.execute(
        "SELECT base_price IS NULL, launched_on FROM raw.products WHERE product_id = 'p4'"
    ).fetchall() == [(True, None)]
    assert con.execute("SELECT name, launched_on FROM raw.products WHERE product_id = 'p1'").fetchall() == [
        ('A "quoted"\nname', dt.date(2024, 1, 1))
    ]


def test_a_missing_column_fails_naming_the_file(con, tmp_path):
    promotions = _write(tmp_path / "promotions.csv", "product_id,start_date,discount_pct\np1,2025-01-01,0.1\n")
    with pytest.raises(SideFileError, match=r"marketing/promotions\.csv line 1: missing columns end_date"):
        load_marketing(con, tmp_path / "none.csv", promotions)
