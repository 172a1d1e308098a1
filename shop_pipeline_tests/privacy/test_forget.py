"""`shop-pipeline forget` on a tiny hand-written shop: every row and landed line of the customer
goes, a re-landed original brings nothing back (conservation counts the dropped rows), a re-run
changes nothing, and a kill at any step leaves the old or the erased state that a re-run completes."""

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shop_pipeline.forget import forget
from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV, PrivacyKeyError, Pseudonymiser
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.privacy.conftest import KEY
from shop_pipeline_tests.privacy.scan import search_home
from shop_pipeline_tests.warehouse.helpers import DAY1, DAY2, TABLES, run_days, snapshot

DAY3 = dt.date(2025, 1, 3)
LATER = dt.datetime(2025, 1, 5, 6, 0, 0)


def _land(landing: Path) -> None:
    write_events(
        landing,
        "events_2025-01-01.csv",
        [
            event_line("e1", "2025-01-01T10:00:00Z", user="alice", session="sa1"),
            event_line("e2", "2025-01-01T10:01:00Z", "purchase", user="alice", session="sa1", order="o1"),
            event_line("e3", "2025-01-01T11:00:00Z", user="bob", session="sb1"),
            "e4,2025-01-01T11:30:00Z,view,alice,sa1,p1,books,acme,not-a-price,1,",  # quarantined
            "e5,broken line of alice",  # rejected by the reader
        ],
    )
    write_events(
        landing,
        "events_2025-01-02.csv",
        [
            event_line("e6", "2025-01-02T09:00:00Z", user="bob", session="sb2"),
            event_line("e1", "2025-01-01T10:00:00Z", user="alice", session="sa1"),  # a late duplicate
            event_line("e7", "2025-01-02T09:30:00Z", user="carol", session="sc1"),
        ],
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
        run_days(con, paths.landing, [DAY1, DAY2])
    return paths, originals, request.param


def _stored(mode: str, value: str) -> str:
    return Pseudonymiser(KEY.encode())(value) if mode == "pseudonymised" else value


def test_forget_removes_every_row_and_line_and_a_relanded_original_brings_nothing_back(shop):
    paths, originals, mode = shop
    with connect(paths.warehouse) as con:
        bob_before = con.execute("SELECT * FROM staging.events WHERE event_id IN ('e3', 'e6') ORDER BY ALL").fetchall()
    report = forget(paths, ["alice"])
    assert report.rows_removed["raw.events"] == 4  # e1, e2, e4 and the late copy of e1
    assert report.rows_removed["raw.rejected_lines"] == 1 and report.landing_lines_removed == 5
    needles = {"alice", "sa1", "o1", _stored(mode, "alice"), _stored(mode, "sa1")}
    assert search_home(paths.home, needles) == []
    landed = (paths.landing / "events" / "events_2025-01-01.csv").read_text()
    assert "alice" not in landed and "bob" in landed
    with connect(paths.warehouse) as con:
        assert con.execute("SELECT * FROM staging.events WHERE event_id IN ('e3', 'e6') ORDER BY ALL").fetchall() == (
            bob_before
        )
        assert con.execute("SELECT customers, status FROM privacy.erasures").fetchall() == [(1, "complete")]
        # the rewrite is no new file version: the next run reads nothing again
        run_days(con, paths.landing, [DAY1, DAY2], now=LATER)
        # the originals landed again (a replay under a new name, a backfill of the same name)
        shutil.copy(
            originals / "events" / "events_2025-01-01.csv", paths.landing / "events" / "events_2025-01-01 (replay).csv"
        )
        shutil.copy(originals / "events" / "events_2025-01-02.csv", paths.landing / "events" / "events_2025-01-02.csv")
        run_days(con, paths.landing, [DAY1, DAY2], now=LATER)  # asserts conservation per file
        users = {u for (u,) in con.execute("SELECT DISTINCT user_id FROM staging.events").fetchall()}
        assert users == {_stored(mode, "bob"), _stored(mode, "carol")}
        erased = dict(con.execute("SELECT path, rows_erased FROM raw.ingested_files WHERE rows_erased > 0").fetchall())
        assert erased == {"events/events_2025-01-01 (replay).csv": 3, "events/events_2025-01-02.csv": 1}
    assert search_home(paths.home, {_stored(mode, "alice"), _stored(mode, "sa1")}, skip=("landing",)) == []


def test_forget_under_another_key_or_none_is_refused_and_touches_nothing(shop, monkeypatch):
    paths, _, mode = shop
    with connect(paths.warehouse) as con:
        before = snapshot(con)
    landed = {p: p.read_bytes() for p in paths.landing.rglob("*.csv")}
    if mode == "pseudonymised":
        monkeypatch.delenv(PSEUDONYM_KEY_ENV)
    else:
        monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY)
    with pytest.raises(PrivacyKeyError, match="nothing was erased"):
        forget(paths, ["alice"])
    assert {p: p.read_bytes() for p in paths.landing.rglob("*.csv")} == landed
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)
    if mode == "pseudonymised":
        monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY)
    with connect(paths.warehouse) as con:
        assert snapshot(con) == before


def test_forget_again_changes_nothing(shop):
    paths, _, _ = shop
    first = forget(paths, ["alice"])
    with connect(paths.warehouse) as con:
        before = snapshot(con, (*TABLES, "privacy.tombstones"))
    again = forget(paths, ["alice"])
    assert again.request_id == first.request_id and again.already_erased == 1
    assert again.rows_removed == {} and again.landing_files_rewritten == 0
    with connect(paths.warehouse) as con:
        assert snapshot(con, (*TABLES, "privacy.tombstones")) == before


_KILLED_FORGET = """
import os, signal, sys
import shop_pipeline.forget as forget_module
import shop_pipeline.warehouse.erase as erase_module
from shop_pipeline.settings import ShopPaths

step = sys.argv[2]
def killer(original):
    def kill(*args, **kwargs):
        if step == "after":
            original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    return kill

module, name = {
    "in_transaction": (erase_module, "record_rewrites"),
    "moving_landing_files": (forget_module, "put_in_place"),
    "compacting": (forget_module, "compact"),
}[sys.argv[3]]
setattr(module, name, killer(getattr(module, name)))
forget_module.forget(ShopPaths.at(sys.argv[1]), ["alice"])
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
def test_a_killed_forget_leaves_the_old_or_the_erased_state_and_a_rerun_completes(shop, tmp_path, point):
    paths, _, mode = shop
    reference = ShopPaths.at(tmp_path / "reference")
    shutil.copytree(paths.home, reference.home)
    forget(reference, ["alice"])
    with connect(paths.warehouse) as con:
        old = snapshot(con)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = subprocess.run([sys.executable, "-c", _KILLED_FORGET, str(paths.home), *point], env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    with connect(paths.warehouse) as con:
        now = snapshot(con)
        erased = {"alice", _stored(mode, "alice")}.isdisjoint(
            u for (u,) in con.execute("SELECT user_id FROM raw.events").fetchall()
        )
    if point[1] == "in_transaction":
        assert now == old
    else:
        assert erased and now != old
    forget(paths, ["alice"])
    with connect(paths.warehouse) as mine, connect(reference.warehouse, read_only=True) as theirs:
        assert snapshot(mine) == snapshot(theirs)
    for name in ("events_2025-01-01.csv", "events_2025-01-02.csv"):
        assert (paths.landing / "events" / name).read_bytes() == (reference.landing / "events" / name).read_bytes()
    assert not list(paths.landing.rglob(".*.erasing"))
    assert search_home(paths.home, {"alice", "sa1", _stored(mode, "alice")}) == []
