"""RetailRocket side files: item properties (category and price as of the event) and the
category tree (root-first paths; cycles, missing parents and conflicts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop_pipeline.sources.importer import ImportFailed, import_files
from shop_pipeline.sources.retailrocket_items import category_paths
from shop_pipeline_tests.sources.test_adapters import FIXTURES, _ids, _ingest_and_stage, _landed_bytes, _landing_rows

EVENTS = FIXTURES / "retailrocket_events.csv"
PROPERTIES = FIXTURES / "retailrocket_item_properties.csv"
TREE = FIXTURES / "retailrocket_category_tree.csv"
P = "retailrocket:retailrocket_events:"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def _nothing_landed(landing: Path) -> bool:
    return not landing.exists() or not [p for p in landing.rglob("*") if p.is_file()]


def test_price_and_category_as_of_the_event_else_the_earliest_known(tmp_path):
    landing = tmp_path / "landing"
    reports = import_files("retailrocket", [EVENTS, PROPERTIES], landing)
    assert reports[0].notes == {"with_category": 3, "with_price": 2}  # of the 7 events
    rows = _landing_rows(landing)
    # item 355908 on 06-02: category 1173 and price n5880.000 since 05-10; 1174 / n6000.000 only from 06-07
    assert (rows[P + "1"]["category"], rows[P + "1"]["price"]) == ("1173", "5880.000")
    # item 248676 on 06-02: its only price is from 06-07, after the event: the earliest known is used
    assert (rows[P + "2"]["category"], rows[P + "2"]["price"]) == ("491", "12.500")
    # item 15335: only a hashed property; item 10572: a 790 value that is not 'n<number>' is no price
    assert (rows[P + "3"]["category"], rows[P + "3"]["price"]) == (None, "0")
    assert (rows[P + "4"]["category"], rows[P + "4"]["price"]) == ("77", "0")
    # an unparseable time still gets the earliest known values (the row is quarantined anyway)
    assert rows[P + "6"]["event_time"] == "14332221x"


def test_category_tree_gives_root_first_paths(tmp_path):
    landing = tmp_path / "landing"
    reports = import_files("retailrocket", [TREE, EVENTS, PROPERTIES], landing)
    assert [r.source.name for r in reports] == ["retailrocket_events.csv"]  # side files are not landed
    assert reports[0].notes == {
        "with_category": 3,
        "with_price": 2,
        "category_not_in_tree": 1,
        "tree_unknown_parents": 1,
    }
    rows = _landing_rows(landing)
    assert rows[P + "1"]["category"] == "250/805/1173"
    assert rows[P + "2"]["category"] == "9999/491"  # parent 9999 is not in the tree: its ancestors are unknown
    assert rows[P + "4"]["category"] == "77"  # not in the tree: the leaf id
    assert rows[P + "3"]["category"] is None
    # conservation and lineage through ingestion and staging
    _, clean, quarantined = _ingest_and_stage(tmp_path, landing)
    assert clean == _ids("retailrocket", "retailrocket_events", [1, 2, 3, 4])
    assert set(quarantined) == _ids("retailrocket", "retailrocket_events", [5, 6, 7])
    # the order of the paths does not matter
    again = tmp_path / "again"
    import_files("retailrocket", [PROPERTIES, EVENTS, TREE], again)
    assert _landed_bytes(again) == _landed_bytes(landing)


def test_category_paths_unit():
    paths, unknown = category_paths({"1": None, "2": "1", "3": "2", "4": "9", "5": "4"})
    assert paths == {"1": "1", "2": "1/2", "3": "1/2/3", "4": "9/4", "5": "9/4/5"}
    assert unknown == {"9"}
    # without a file the cycle is named in the tree's own words, with no line to point at
    with pytest.raises(ImportFailed) as caught:
        category_paths({"1": "2", "2": "1"})
    assert str(caught.value) == "category tree: column parentid: categories 1 -> 2 -> 1 form a cycle"


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        (
            "categoryid,parentid\n1,\n2,3\n3,4\n4,2\n",
            "line 3: column parentid: categories 2 -> 3 -> 4 -> 2 form a cycle",
        ),
        ("categoryid,parentid\n1,1\n", "line 2: column parentid: categories 1 -> 1 form a cycle"),
        # reached from outside the cycle at 2 (line 4): the line named is the cycle's first in the file
        (
            "categoryid,parentid\n1,2\n3,2\n2,3\n",
            "line 3: column parentid: categories 2 -> 3 -> 2 form a cycle",
        ),
        (
            "categoryid,parentid\n1,\n2,1\n2,5\n",
            "line 4: column parentid: category 2 has parent 5 here and 1 on line 3",
        ),
        ("categoryid,parentid\n1,\n,1\n", "line 3: column categoryid: empty"),
        (
            "categoryid,parentid\n2,\n2,5\n",
            "line 3: column parentid: category 2 has parent 5 here and (none) on line 2",
        ),
        (
            "categoryid,parentid\n2,5\n2,\n",
            "line 3: column parentid: category 2 has parent (none) here and 5 on line 2",
        ),
        (
            "categoryid,parentid\n1,\n2,1,9\n",
            "not a well-formed category-tree file: Invalid Input Error: CSV Error on Line: 3",
        ),
    ],
)
def test_a_broken_tree_is_an_error_naming_file_line_and_column(tmp_path, tree, message):
    path = _write(tmp_path, "category_tree.csv", tree)
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed) as caught:
        import_files("retailrocket", [EVENTS, PROPERTIES, path], landing)
    assert str(caught.value) == f"{path}: {message}"
    assert _nothing_landed(landing)


def test_the_same_tree_row_twice_is_fine(tmp_path):
    path = _write(tmp_path, "category_tree.csv", TREE.read_text() + "805,250\n")
    import_files("retailrocket", [EVENTS, PROPERTIES, path], tmp_path / "landing")
    assert _landing_rows(tmp_path / "landing")[P + "1"]["category"] == "250/805/1173"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["tree"], "without a RetailRocket events file"),
        (["properties"], "without a RetailRocket events file"),
        (["events", "tree"], "a category tree needs the item-properties files"),
        (["events", "properties", "tree", "tree2"], "more than one category-tree file"),
    ],
)
def test_side_files_without_what_they_need(tmp_path, names, message):
    files = {
        "events": EVENTS,
        "properties": PROPERTIES,
        "tree": TREE,
        "tree2": _write(tmp_path, "tree2.csv", TREE.read_text()),
    }
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed, match=message):
        import_files("retailrocket", [files[n] for n in names], landing)
    assert _nothing_landed(landing)


def test_a_property_timestamp_that_is_not_epoch_milliseconds_names_file_line_and_column(tmp_path):
    text = PROPERTIES.read_text().replace("1433646000000,248676,790", "2015-06-07,248676,790")
    path = _write(tmp_path, "item_properties.csv", text)
    landing = tmp_path / "landing"
    with pytest.raises(ImportFailed) as caught:
        import_files("retailrocket", [EVENTS, path], landing)
    assert str(caught.value) == (
        f"{path}: line 9: column timestamp: '2015-06-07' is not epoch milliseconds (1 categoryid/790 row(s) like it)"
    )
    assert _nothing_landed(landing)
