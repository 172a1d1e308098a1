"""The snapshot in memory and its swaps, on a tiny published snapshot (tiny_shop.py; no pipeline run):
what a customer's list is, when the store swaps, and that a snapshot which fails to load (a tampered
artifact, a CURRENT naming nothing) never replaces the one being served."""

import datetime as dt
import json
import shutil
import time

import pytest

from shop_pipeline.serving.snapshot import publish_snapshot
from shop_pipeline.serving.store import Recommendation, Snapshot, SnapshotStore
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.serving.tiny_shop import AS_OF, RECS_VERSION, tiny_shop


@pytest.fixture
def tiny(tmp_path):
    return tiny_shop(tmp_path / "home")


def publish(tiny, second: int = 0):
    with connect(tiny.warehouse) as con:
        return publish_snapshot(con, tiny.serving, tiny.models, now=dt.datetime(2031, 4, 2, 6, 0, second))


def test_a_customers_list_is_theirs_in_rank_order_cut_at_k(tiny):
    loaded = Snapshot.load(publish(tiny).path)
    assert loaded.recommendations("alice", 2) == (
        [Recommendation(1, "p-10", 0.9, "similar_items"), Recommendation(2, "p-11", 0.8, "similar_items")],
        RECS_VERSION,
    )
    assert loaded.recommendations("bob", 10) == (
        [Recommendation(1, "p-20", 0.6, "similar_items"), Recommendation(2, "p-21", 0.5, "popular")],
        RECS_VERSION,
    )
    assert loaded.recommendations("alice", 1)[0] == [Recommendation(1, "p-10", 0.9, "similar_items")]
    assert loaded.recommendations("carol", 10) == ([], None)  # scored, but no published list
    assert loaded.recommendations("nobody", 10) == ([], None)
    assert loaded.recommendation_version() == RECS_VERSION
    assert loaded.as_of == AS_OF.isoformat()
    assert loaded.order_risk is None and loaded.demand is None


def test_the_store_swaps_only_to_a_new_snapshot(tiny):
    store = SnapshotStore(tiny.serving)
    assert store.refresh() is False and store.current is None and store.last_error is None  # nothing published
    first = publish(tiny, 1)
    assert store.refresh() is True and store.current.snapshot_id == first.snapshot_id
    loaded = store.current
    assert store.refresh() is False and store.current is loaded  # the same snapshot is not loaded again
    second = publish(tiny, 2)
    assert store.refresh() is True and store.current.snapshot_id == second.snapshot_id


def with_a_tampered_order_risk_artifact(tiny, good) -> str:
    """A copy of the good snapshot whose manifest lists an order-risk artifact with other bytes than its
    SHA-256 says, made current; its id."""
    bad_id = "20310402T070000-tampered"
    bad = tiny.serving / "snapshots" / bad_id
    shutil.copytree(good.path, bad)
    (bad / "order_risk.skops").write_bytes(b"not the registered bytes")
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["snapshot_id"] = bad_id
    manifest["order_risk"] = {"version": "or-1", "as_of": "2031-03-31", "sha256": "0" * 64, "expensive_ratio": 2.0}
    (bad / "manifest.json").write_text(json.dumps(manifest))
    (tiny.serving / "CURRENT").write_text(bad_id + "\n")
    return bad_id


def test_a_snapshot_that_fails_to_load_leaves_the_old_one_serving_and_says_why(tiny):
    good = publish(tiny)
    store = SnapshotStore(tiny.serving)
    assert store.refresh()

    with_a_tampered_order_risk_artifact(tiny, good)
    assert store.refresh() is False
    assert store.current.snapshot_id == good.snapshot_id
    assert store.last_error.startswith("ArtifactIntegrityError: refusing to load")

    (tiny.serving / "CURRENT").write_text("20310101T000000-gone\n")
    assert store.refresh() is False and store.current.snapshot_id == good.snapshot_id
    assert store.last_error.startswith("FileNotFoundError:") and "20310101T000000-gone" in store.last_error

    fixed = publish(tiny, 30)
    assert store.refresh() is True and store.current.snapshot_id == fixed.snapshot_id and store.last_error is None


def test_the_log_says_which_snapshot_is_served_and_why_one_is_not(tiny, caplog):
    good = publish(tiny)
    store = SnapshotStore(tiny.serving)
    with caplog.at_level("INFO", logger="shop_pipeline.serving.store"):
        store.refresh()
        (tiny.serving / "CURRENT").write_text("20310101T000000-gone\n")
        store.refresh()
    loaded, refused = caplog.records
    assert (loaded.levelname, loaded.getMessage()) == (
        "INFO",
        f"serving snapshot {good.snapshot_id} loaded ({good.rows})",
    )
    assert refused.levelname == "WARNING"
    assert refused.getMessage() == f"serving snapshot not loaded: {store.last_error}"
    assert "20310101T000000-gone" in refused.getMessage()


def test_the_watcher_loads_at_start_and_swaps_to_a_published_snapshot_until_stopped(tiny):
    import threading

    first = publish(tiny, 1)
    SnapshotStore(tiny.serving).stop()  # a store never started stops without complaint (a server that failed to start)
    store = SnapshotStore(tiny.serving)
    store.start(interval_seconds=0.05)
    try:
        assert store.current.snapshot_id == first.snapshot_id  # loaded before start returns
        (watcher,) = [t for t in threading.enumerate() if t.name == "snapshot-watcher"]  # named in thread dumps
        assert watcher.daemon  # never keeps a stopping server's process alive
        second = publish(tiny, 2)
        for _ in range(400):
            if store.current.snapshot_id == second.snapshot_id:
                break
            time.sleep(0.05)
        assert store.current.snapshot_id == second.snapshot_id
    finally:
        store.stop()
    assert not store._thread.is_alive()
    publish(tiny, 3)
    time.sleep(0.3)
    assert store.current.snapshot_id == second.snapshot_id  # a stopped watcher swaps no more


def test_the_recommenders_version_is_known_from_a_single_published_row(tiny):
    with connect(tiny.warehouse) as con:
        con.execute("DELETE FROM scoring.recommendations WHERE NOT (customer_id = 'alice' AND rank = 1)")
    loaded = Snapshot.load(publish(tiny).path)
    assert loaded.recommendation_version() == RECS_VERSION
