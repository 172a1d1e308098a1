"""The retention purge on a tiny hand-written shop: exactly the events before the cut-off leave
every table and the landing folder (a late event in a later file too), conservation holds, the
purge is idempotent and safe after a kill, and re-landing the old files brings nothing back."""

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shop_pipeline.features.interactions import build_interactions
from shop_pipeline.features.order_features import build_order_features
from shop_pipeline.features.tables import build_customer_features, build_product_daily_sales
from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV, Pseudonymiser
from shop_pipeline.retention import purge_expired, retention_cutoff
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse import staging
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.privacy.conftest import KEY
from shop_pipeline_tests.privacy.scan import search_home
from shop_pipeline_tests.warehouse.helpers import DAY1, DAY2, DAY3, TABLES, run_days, snapshot

# 2 retention days at this instant: the cut-off is 2025-01-02, DAY1's events expire
NOW = dt.datetime(2025, 1, 4, 6, 0, 0)
RETENTION_DAYS = 2
LATER = dt.datetime(2025, 1, 4, 7, 0, 0)


def _land(landing: Path) -> None:
    write_events(
        landing,
        "events_2025-01-01.csv",
        [
            event_line("e1", "2025-01-01T10:00:00Z", user="olga", session="so1"),  # only old events
            event_line("e2", "2025-01-01T10:01:00Z", "purchase", user="olga", session="so1", order="o1"),
            event_line("e3", "2025-01-01T11:00:00Z", user="bob", session="sb1"),  # old and new events
            "e4,2025-01-01T11:30:00Z,view,olga,so1,p1,books,acme,not-a-price,1,",  # quarantined
            "e5,broken line of olga",  # rejected by the reader
        ],
    )
    write_events(
        landing,
        "events_2025-01-02.csv",
        [
            event_line("e6", "2025-01-02T09:00:00Z", user="bob", session="sb2"),
            event_line("e7", "2025-01-01T23:30:00Z", user="lena", session="sl1"),  # a late event: expired
            event_line("e8", "2025-01-02T09:30:00Z", user="carol", session="sc1"),
        ],
    )
    write_events(
        landing,
        "events_2025-01-03.csv",
        [event_line("e9", "2025-01-03T08:00:00Z", user="carol", session="sc2")],
    )


@pytest.fixture(params=["clear", "pseudonymised"])
def shop(request, tmp_path, monkeypatch):
    monkeypatch.delenv(PSEUDONYM_KEY_FILE_ENV, raising=False)
    if request.param == "pseudonymised":
        monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY)
    else:
        monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)
    paths = ShopPaths.at(tmp_path / "home").ensure()
    _land(paths.landing)
    originals = tmp_path / "originals"
    shutil.copytree(paths.landing, originals)
    with connect(paths.warehouse) as con:
        run_days(con, paths.landing, [DAY1, DAY2, DAY3])
    logs = paths.home / "serving" / "logs"  # what the API answered, one line before the cut-off
    logs.mkdir(parents=True)
    (logs / "predictions-1.jsonl").write_text(
        '{"request_id": "r1", "logged_at": "2025-01-01T12:00:00+00:00", "request": {"customer_id": "olga"}}\n'
        '{"request_id": "r2", "logged_at": "2025-01-03T12:00:00+00:00", "request": {"customer_id": "carol"}}\n'
    )
    return paths, originals, request.param


def _stored(mode: str, value: str) -> str:
    return Pseudonymiser(KEY.encode())(value) if mode == "pseudonymised" else value


def _conservation_breaks(con) -> list:
    counts = staging.published_file_counts(con, [DAY1, DAY2, DAY3])
    return staging.conservation_breaks(counts).to_dict("records")


def test_the_purge_removes_exactly_the_expired_events_everywhere(shop):
    paths, _, mode = shop
    assert retention_cutoff(RETENTION_DAYS, NOW) == DAY2
    with connect(paths.warehouse) as con:
        kept_before = con.execute(
            "SELECT * FROM staging.events WHERE event_time >= DATE '2025-01-02' ORDER BY ALL"
        ).fetchall()
    report = purge_expired(paths, RETENTION_DAYS, now=NOW)

    assert report.cutoff == "2025-01-02" and report.landing_files_removed == 1
    assert report.landing_files_rewritten == 1 and report.landing_lines_removed == 1  # e7, the late event
    assert report.prediction_log_lines_removed == 1
    assert "r2" in (paths.home / "serving" / "logs" / "predictions-1.jsonl").read_text()
    assert report.rows_removed["raw.events"] == 5  # e1 e2 e3 e4 of DAY1, e7
    assert report.rows_removed["raw.rejected_lines"] == 1
    assert not (paths.landing / "events" / "events_2025-01-01.csv").exists()
    day2 = (paths.landing / "events" / "events_2025-01-02.csv").read_text()
    assert "e7" not in day2 and "e6" in day2 and "e8" in day2
    # only the expired events' own ids: olga and lena had no later event; bob and carol had
    needles = {"olga", "so1", "o1", "lena", "sl1", "sb1", _stored(mode, "olga"), _stored(mode, "so1")}
    needles |= {_stored(mode, "lena"), _stored(mode, "sl1"), _stored(mode, "sb1")}
    assert search_home(paths.home, needles) == []
    with connect(paths.warehouse) as con:
        assert con.execute("SELECT * FROM staging.events ORDER BY ALL").fetchall() == kept_before
        assert con.execute("SELECT min(event_time) FROM staging.events").fetchone()[0] >= dt.datetime(2025, 1, 2)
        for table in ("raw.events", "raw.rejected_lines", "staging.quarantined_events", "staging.duplicate_events"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE partition_date < ?", [DAY2]).fetchone()[0] == 0
        statuses = dict(con.execute("SELECT path, status FROM raw.ingested_files").fetchall())
        assert statuses["events/events_2025-01-01.csv"] == "expired"
        assert _conservation_breaks(con) == []
        assert con.execute("SELECT count(*) FROM features.table_builds").fetchone()[0] == 0
        assert con.execute("SELECT status, cutoff FROM privacy.retention_purges").fetchall() == [("complete", DAY2)]
    logged = [json.loads(line) for line in (paths.logs / "retention.jsonl").read_text().splitlines()]
    assert [entry["cutoff"] for entry in logged] == ["2025-01-02"]


def test_a_second_purge_changes_nothing_and_relanded_old_files_bring_nothing_back(shop):
    paths, originals, mode = shop
    first = purge_expired(paths, RETENTION_DAYS, now=NOW)
    with connect(paths.warehouse) as con:
        before = snapshot(con, (*TABLES, "privacy.retention_purges"))
    again = purge_expired(paths, RETENTION_DAYS, now=LATER)
    assert again.request_id == first.request_id and again.rows_removed == {}
    assert again.landing_files_removed == 0 and not again.warehouse_compacted
    with connect(paths.warehouse) as con:
        assert snapshot(con, (*TABLES, "privacy.retention_purges")) == before
        # the originals land again: under their own names (a backfill) and under new ones (a replay)
        for name in ("events_2025-01-01.csv", "events_2025-01-02.csv"):
            shutil.copy(originals / "events" / name, paths.landing / "events" / name)
            shutil.copy(originals / "events" / name, paths.landing / "events" / name.replace(".csv", " (replay).csv"))
        run_days(con, paths.landing, [DAY1, DAY2, DAY3], now=LATER)  # asserts conservation per file
        users = {u for (u,) in con.execute("SELECT DISTINCT user_id FROM raw.events").fetchall()}
        assert users == {_stored(mode, "bob"), _stored(mode, "carol")}
        assert con.execute("SELECT count(*) FROM raw.rejected_lines").fetchone()[0] == 0
        files = {
            path: (status, erased)
            for path, status, erased in con.execute(
                "SELECT path, status, rows_erased FROM raw.ingested_files WHERE ingested_at = ? ORDER BY 1", [LATER]
            ).fetchall()
        }
    # the old file under its own name: the same bytes as the expired one, not read again; as a
    # replay: read, all 5 lines dropped; the day-2 original: new bytes, only its late line dropped,
    # and its replay a copy of it
    assert files == {
        "events/events_2025-01-01 (replay).csv": ("ingested", 5),
        "events/events_2025-01-02.csv": ("ingested", 1),
        "events/events_2025-01-02 (replay).csv": ("duplicate_file", None),
    }
    assert search_home(paths.home, {_stored(mode, "olga"), _stored(mode, "lena")}, skip=("landing",)) == []


_KILLED_PURGE = """
import datetime as dt, os, signal, sys
import shop_pipeline.retention as retention_module
import shop_pipeline.warehouse.expire as expire_module
from shop_pipeline.settings import ShopPaths

def killer(original):
    def kill(*args, **kwargs):
        if sys.argv[2] == "after":
            original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    return kill

module, name = {
    "in_transaction": (expire_module, "record_rewrites"),
    "moving_landing_files": (retention_module, "put_in_place"),
    "compacting": (retention_module, "compact"),
}[sys.argv[3]]
setattr(module, name, killer(getattr(module, name)))
retention_module.purge_expired(ShopPaths.at(sys.argv[1]), 2, now=dt.datetime(2025, 1, 4, 6))
"""


@pytest.mark.parametrize(
    "point",
    [
        ("before", "in_transaction"),
        ("before", "moving_landing_files"),
        ("after", "moving_landing_files"),
        ("before", "compacting"),
    ],
)
def test_a_killed_purge_leaves_the_old_or_the_purged_state_and_a_rerun_completes(shop, tmp_path, point):
    paths, _, mode = shop
    reference = ShopPaths.at(tmp_path / "reference")
    shutil.copytree(paths.home, reference.home)
    purge_expired(reference, RETENTION_DAYS, now=NOW)
    with connect(paths.warehouse) as con:
        old = snapshot(con)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = subprocess.run([sys.executable, "-c", _KILLED_PURGE, str(paths.home), *point], env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    with connect(paths.warehouse) as con:
        now = snapshot(con)
    assert (now == old) == (point[1] == "in_transaction")
    purge_expired(paths, RETENTION_DAYS, now=NOW)
    with connect(paths.warehouse) as mine, connect(reference.warehouse, read_only=True) as theirs:
        assert snapshot(mine) == snapshot(theirs)
    assert sorted(p.name for p in (paths.landing / "events").iterdir()) == sorted(
        p.name for p in (reference.landing / "events").iterdir()
    )
    day2 = "events_2025-01-02.csv"
    assert (paths.landing / "events" / day2).read_bytes() == (reference.landing / "events" / day2).read_bytes()
    assert search_home(paths.home, {"olga", "lena", _stored(mode, "olga")}) == []


def test_the_purge_command_needs_a_period_and_purges_by_todays_date(shop, monkeypatch, capsys):
    from shop_pipeline.cli import main
    from shop_pipeline.settings import RETENTION_DAYS_ENV

    paths, _, _ = shop
    monkeypatch.delenv(RETENTION_DAYS_ENV, raising=False)
    assert main(["purge-expired", "--home", str(paths.home)]) == 1
    assert "no retention period" in capsys.readouterr().err
    monkeypatch.setenv(RETENTION_DAYS_ENV, "30")
    assert main(["purge-expired", "--home", str(paths.home)]) == 0  # today minus 30 days: every 2025 event
    assert "retention purge retention-" in capsys.readouterr().out
    assert list((paths.landing / "events").iterdir()) == []
    with connect(paths.warehouse) as con:
        assert con.execute("SELECT count(*) FROM staging.events").fetchone()[0] == 0


FEATURE_TABLES = (
    "features.customer_features",
    "features.product_daily_sales",
    "features.order_features",
    "features.interactions",
)


def _features(paths: ShopPaths, as_of: dt.date) -> dict[str, list[tuple]]:
    with connect(paths.warehouse) as con:
        build_customer_features(con, as_of)
        build_product_daily_sales(con, as_of)
        build_order_features(con, as_of)
        build_interactions(con, as_of)
        return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in FEATURE_TABLES}


def test_features_after_the_purge_equal_those_of_a_shop_that_only_received_what_was_kept(shop, tmp_path):
    paths, _, _ = shop
    purge_expired(paths, RETENTION_DAYS, now=NOW)
    # a shop that never had the expired events: the landing folder as the purge left it, loaded afresh
    fresh = ShopPaths.at(tmp_path / "fresh").ensure()
    shutil.copytree(paths.landing, fresh.landing, dirs_exist_ok=True)
    with connect(fresh.warehouse) as con:
        run_days(con, fresh.landing, [DAY2, DAY3])
    purged, afresh = _features(paths, DAY3), _features(fresh, DAY3)
    assert all(afresh[table] for table in ("features.customer_features", "features.interactions"))
    assert purged == afresh
