"""`shop-pipeline rotate-pseudonym-key` on a tiny pseudonymised shop: no old pseudonym or tombstone
remains anywhere, the new key finds every customer, an erased customer stays erased under it, a
request it cannot complete changes nothing, and a kill leaves the old or the new state."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shop_pipeline.forget import forget
from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV, PrivacyKeyError, Pseudonymiser
from shop_pipeline.rotate_key import rotate_pseudonym_key
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.privacy.conftest import KEY
from shop_pipeline_tests.privacy.scan import search_home
from shop_pipeline_tests.warehouse.helpers import DAY1, DAY2, TABLES, run_days, snapshot

NEW_KEY = "0b7e4d1c9a8f6e5d4c3b2a190817263544536271809a8b7c6d5e4f3a2b1c0d9e"
OLD, NEW = Pseudonymiser(KEY.encode()), Pseudonymiser(NEW_KEY.encode())
IDS = ("alice", "bob", "carol", "sa1", "sb1", "sc1")


def _land(landing: Path) -> None:
    write_events(
        landing,
        "events_2025-01-01.csv",
        [
            event_line("e1", "2025-01-01T10:00:00Z", user="alice", session="sa1"),
            event_line("e2", "2025-01-01T10:01:00Z", "purchase", user="alice", session="sa1", order="o1"),
            event_line("e3", "2025-01-01T11:00:00Z", user="bob", session="sb1"),
            "e4,2025-01-01T11:30:00Z,view,carol,sc1,p1,books,acme,not-a-price,1,",  # quarantined
        ],
    )
    write_events(
        landing, "events_2025-01-02.csv", [event_line("e5", "2025-01-02T09:00:00Z", user="carol", session="sc1")]
    )


@pytest.fixture
def shop(tmp_path, monkeypatch):
    monkeypatch.delenv(PSEUDONYM_KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY)
    paths = ShopPaths.at(tmp_path / "home").ensure()
    _land(paths.landing)
    originals = tmp_path / "originals"
    shutil.copytree(paths.landing, originals)
    with connect(paths.warehouse) as con:
        run_days(con, paths.landing, [DAY1, DAY2])
    forget(paths, ["bob"])
    logs = paths.home / "serving" / "logs"
    logs.mkdir(parents=True)
    (logs / "predictions-1.jsonl").write_text(
        json.dumps({"request_id": "r1", "logged_at": "2025-01-03T00:00:00", "request": {"customer_id": OLD("alice")}})
        + "\n"
    )
    return paths, originals


def test_after_a_rotation_no_old_pseudonym_remains_and_the_new_key_finds_everyone(shop, monkeypatch):
    paths, originals = shop
    report = rotate_pseudonym_key(paths, NEW, ["bob"])
    assert report.tombstones == 1 and report.prediction_log_files_rewritten == 1
    old_values = {OLD(i) for i in IDS} | {OLD("erased:bob")}
    assert search_home(paths.home, old_values) == []
    assert NEW("alice") in (paths.home / "serving" / "logs" / "predictions-1.jsonl").read_text()
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, NEW_KEY)
    with connect(paths.warehouse) as con:
        users = {u for (u,) in con.execute("SELECT DISTINCT user_id FROM staging.events").fetchall()}
        assert users == {NEW("alice"), NEW("carol")}
        assert con.execute("SELECT pseudonym(?)", ["alice"]).fetchone()[0] == NEW("alice")
        # the erased customer's original lands again: the re-keyed tombstone still drops it
        shutil.copy(
            originals / "events" / "events_2025-01-01.csv", paths.landing / "events" / "events_2025-01-01 (replay).csv"
        )
        run_days(con, paths.landing, [DAY1, DAY2])  # asserts conservation per file
        users = {u for (u,) in con.execute("SELECT DISTINCT user_id FROM raw.events").fetchall()}
        assert users == {NEW("alice"), NEW("carol")}
        assert con.execute("SELECT sum(rows_erased) FROM raw.ingested_files").fetchone()[0] == 1
    logged = [json.loads(line) for line in (paths.logs / "key_rotations.jsonl").read_text().splitlines()]
    assert [entry["new_fingerprint"] for entry in logged] == [NEW.fingerprint]
    assert KEY not in (paths.logs / "key_rotations.jsonl").read_text()


def test_a_rotation_that_cannot_rekey_everything_changes_nothing(shop):
    paths, _ = shop
    with connect(paths.warehouse) as con:
        before = snapshot(con, (*TABLES, "privacy.tombstones", "privacy.key_fingerprints"))
    with pytest.raises(PrivacyKeyError, match="1 tombstone"):
        rotate_pseudonym_key(paths, NEW, [])  # bob's tombstone has no id
    (paths.landing / "events" / "events_2025-01-02.csv").unlink()  # carol's id is no longer landed... but in day 1
    (paths.landing / "events" / "events_2025-01-01.csv").unlink()
    with pytest.raises(PrivacyKeyError, match="no clear id in the landed event files"):
        rotate_pseudonym_key(paths, NEW, ["bob"])
    with connect(paths.warehouse) as con:
        assert snapshot(con, (*TABLES, "privacy.tombstones", "privacy.key_fingerprints")) == before


_KILLED_ROTATION = """
import contextlib, os, signal, sys
import shop_pipeline.rotate_key as rotate_module
import shop_pipeline.warehouse.rekey as rekey_module
from shop_pipeline.pseudonyms import Pseudonymiser
from shop_pipeline.settings import ShopPaths

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[2] == "before_commit":
    real = rekey_module.transaction
    @contextlib.contextmanager
    def dying(con):
        with real(con):
            yield
            die()
    rekey_module.transaction = dying
else:
    rotate_module.republish_snapshot = die
rotate_module.rotate_pseudonym_key(ShopPaths.at(sys.argv[1]), Pseudonymiser(sys.argv[3].encode()), ["bob"])
"""


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_a_killed_rotation_leaves_the_old_or_the_new_state_and_a_rerun_completes(shop, tmp_path, point):
    paths, _ = shop
    reference = ShopPaths.at(tmp_path / "reference")
    shutil.copytree(paths.home, reference.home)
    rotate_pseudonym_key(reference, NEW, ["bob"])
    with connect(paths.warehouse) as con:
        old = snapshot(con, (*TABLES, "privacy.tombstones"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_ROTATION, str(paths.home), point, NEW_KEY], env=env, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL
    with connect(paths.warehouse) as con:
        assert (snapshot(con, (*TABLES, "privacy.tombstones")) == old) == (point == "before_commit")
    report = rotate_pseudonym_key(paths, NEW, ["bob"])
    assert report.resumed == (point == "after_commit")
    with connect(paths.warehouse) as mine, connect(reference.warehouse, read_only=True) as theirs:
        tables = (*TABLES, "privacy.tombstones")
        assert snapshot(mine, tables) == snapshot(theirs, tables)
    assert search_home(paths.home, {OLD(i) for i in IDS} | {OLD("erased:bob")}) == []
