"""Publishing the serving snapshot from a tiny warehouse (tiny_shop.py; no pipeline run): what it holds,
the popular list, the champions it names, CURRENT, pruning, refusals, and reuse when nothing changed; and
the same snapshot published from the tiny warehouse's tables written onto a lake (serving/lake_snapshot.py,
Spark mode), which test_lake_snapshot.py checks on a whole scored shop."""

import datetime as dt
import json

import pyarrow.parquet as pq
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.ml.common.registry import ArtifactIntegrityError
from shop_pipeline.serving import lake_snapshot
from shop_pipeline.serving import snapshot as snapshots
from shop_pipeline.serving.snapshot import (
    FALLBACK_SIZE,
    KEEP_SNAPSHOTS,
    current_snapshot_dir,
    publish_if_changed,
    publish_snapshot,
)
from shop_pipeline.serving.store import Snapshot
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import connect, table_columns
from shop_pipeline_tests.serving.tiny_shop import (
    AS_OF,
    POPULAR_IN_WINDOW,
    RECOMMENDATIONS,
    RECS_VERSION,
    SCORES,
    SCORES_VERSION,
    add_events,
    register,
    tiny_shop,
)


@pytest.fixture
def tiny(tmp_path):
    return tiny_shop(tmp_path / "home")


def publish(tiny, **options):
    with connect(tiny.warehouse) as con:
        return publish_snapshot(con, tiny.serving, tiny.models, **options)


def popular(snapshot: Snapshot) -> list[tuple]:
    return [(r.rank, r.product_id, r.score, r.reason) for r in snapshot.fallback]


def test_a_published_snapshot_holds_the_scores_lists_and_champions_and_is_current(tiny):
    now = dt.datetime(2031, 4, 2, 6, 30, 5)
    published = publish(tiny, now=now)

    assert current_snapshot_dir(tiny.serving) == published.path == tiny.serving / "snapshots" / published.snapshot_id
    assert published.snapshot_id.startswith("20310402T063005-") and not published.reused
    assert published.as_of == AS_OF
    assert published.rows == {"customer_scores": 3, "recommendations": 5, "fallback": 4}
    manifest = json.loads((published.path / "manifest.json").read_text())
    assert manifest == {
        "snapshot_id": published.snapshot_id,
        "published_at": "2031-04-02T06:30:05",
        "as_of": "2031-03-31",
        "rows": published.rows,
        "models": 2,
        "inputs_key": None,
    }
    loaded = Snapshot.load(published.path)
    assert loaded.scores == {c: (*values, SCORES_VERSION, "2031-03-31") for c, values in SCORES.items()}
    for customer, items in RECOMMENDATIONS.items():
        served, version = loaded.recommendations(customer, 10)
        assert [(r.product_id, r.score, r.reason) for r in served] == items and version == RECS_VERSION
        assert [r.rank for r in served] == list(range(1, len(items) + 1))
    # the champions of the code's models only (retired_model is not one), as the registry says
    assert loaded.models == [
        {
            "model_name": "propensity",
            "version": SCORES_VERSION,
            "trained_at": "2031-04-01T08:00:00",
            "promoted_at": "2031-04-01T09:00:00",
            "as_of": "2031-03-31",
            "train_start": "2031-01-01",
            "train_end": "2031-03-31",
            "validated": True,
        },
        {
            "model_name": "recommendation",
            "version": RECS_VERSION,
            "trained_at": "2031-04-01T08:00:00",
            "promoted_at": "2031-04-01T09:00:00",
            "as_of": "2031-03-31",
            "train_start": "2031-01-01",
            "train_end": "2031-03-31",
            "validated": False,
        },
    ]
    assert loaded.online == {}  # no order-risk or demand scores in this warehouse: no predictor


def test_the_popular_list_counts_distinct_buyers_in_the_30_days_up_to_the_cut_off(tiny):
    loaded = Snapshot.load(publish(tiny).path)
    assert popular(loaded) == [
        (1, "p-2", 3.0, "popular"),  # three buyers, one of whom bought twice
        (2, "p-1", 2.0, "popular"),  # a tie: the smaller product id first
        (3, "p-3", 2.0, "popular"),
        (4, "p-4", 1.0, "popular"),
    ]
    assert [r.product_id for r in loaded.fallback] == POPULAR_IN_WINDOW


def test_with_nobody_buying_in_the_window_the_popular_list_is_all_historys(tiny):
    with connect(tiny.warehouse) as con:
        con.execute("DELETE FROM staging.events WHERE partition_date > $cut - 30", {"cut": AS_OF})
    published = publish(tiny)
    assert published.rows["fallback"] == 1
    assert popular(Snapshot.load(published.path)) == [(1, "p-old", 4.0, "popular")]


def test_the_popular_list_holds_the_first_fifty_products(tiny):
    with connect(tiny.warehouse) as con:
        add_events(con, [(1, f"buyer-{n}", f"q-{n:03d}", "purchase") for n in range(FALLBACK_SIZE + 10)])
    loaded = Snapshot.load(publish(tiny).path)
    assert len(loaded.fallback) == FALLBACK_SIZE == 50
    assert [r.product_id for r in loaded.fallback[:3]] == ["p-2", "p-1", "p-3"]


def test_without_scores_the_window_ends_on_the_last_staged_day_and_nothing_is_personalised(tiny):
    scored = publish(tiny)
    with connect(tiny.warehouse) as con:
        con.execute("DROP TABLE scoring.customer_scores")
        con.execute("DROP TABLE scoring.recommendations")
        add_events(con, [(-1, "u10", "p-late", "purchase")])  # p-late: two buyers, on the last staged day
    published = publish(tiny)
    assert published.as_of is None
    assert (published.rows["customer_scores"], published.rows["recommendations"]) == (0, 0)
    loaded = Snapshot.load(published.path)
    assert loaded.scores == {} and loaded.recommendations("alice", 5) == ([], None)
    assert loaded.recommendation_version() is None
    # the window moved a day later: p-late counts, u4's purchase of p-3 (29 days before AS_OF) no longer does
    assert [(r.product_id, r.score) for r in loaded.fallback] == [
        ("p-2", 3.0),
        ("p-1", 2.0),
        ("p-late", 2.0),
        ("p-3", 1.0),
        ("p-4", 1.0),
    ]
    assert json.loads((published.path / "manifest.json").read_text())["as_of"] is None
    for name in ("customer_scores.parquet", "recommendations.parquet"):  # empty, with the columns of a full one
        empty, full = pq.read_schema(published.path / name), pq.read_schema(scored.path / name)
        assert empty.remove_metadata() == full.remove_metadata(), name


def test_without_staged_events_or_a_registry_the_snapshot_is_empty_not_refused(tiny):
    with connect(tiny.warehouse) as con:
        con.execute("DROP TABLE staging.events")
        con.execute("DROP TABLE ml.model_registry")
        published = publish_if_changed(con, tiny.serving, tiny.models)
    assert published.rows["fallback"] == 0
    loaded = Snapshot.load(published.path)
    assert loaded.fallback == [] and loaded.models == []


def test_current_follows_the_newest_and_three_snapshots_are_kept(tiny):
    ids = [publish(tiny, now=dt.datetime(2031, 4, 2, 6, 0, n)).snapshot_id for n in range(KEEP_SNAPSHOTS + 2)]
    assert current_snapshot_dir(tiny.serving).name == ids[-1]
    assert sorted(p.name for p in (tiny.serving / "snapshots").iterdir()) == ids[-KEEP_SNAPSHOTS:]
    assert (tiny.serving / "CURRENT").read_text() == ids[-1] + "\n"
    assert sorted(p.name for p in tiny.serving.iterdir()) == ["CURRENT", "snapshots"]  # no temporary left


def test_current_snapshot_dir_refuses_a_current_file_that_names_no_snapshot(tiny):
    assert current_snapshot_dir(tiny.serving) is None  # nothing published yet
    published = publish(tiny)
    current = tiny.serving / "CURRENT"
    for name in ("", "\n", "../elsewhere", "a/b", ".hidden", ".."):
        current.write_text(name)
        with pytest.raises(ValueError, match="does not name a snapshot folder"):
            current_snapshot_dir(tiny.serving)
    current.write_text("20310101T000000-missing\n")
    with pytest.raises(FileNotFoundError, match=r"names 20310101T000000-missing, which has no manifest\.json"):
        current_snapshot_dir(tiny.serving)
    (published.path / "manifest.json").unlink()
    current.write_text(published.snapshot_id)
    with pytest.raises(FileNotFoundError):
        current_snapshot_dir(tiny.serving)


def scored_with_a_tampered_artifact(tiny) -> None:
    """Order risk scored by a registered version whose artifact's bytes are no longer the registered ones."""
    artifact = tiny.models / "order_risk" / "or-1.skops"
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"changed after registration")
    with connect(tiny.warehouse) as con:
        ddl.create(con, "scoring.order_risk_scores")
        register(con, "order_risk", "or-1", champion=True, validated=True)  # sha256 'no-artifact'
        con.execute(
            "INSERT INTO scoring.order_risk_scores VALUES ('o1', 'alice', TIMESTAMP '2031-03-30 10:00:00', 0.5, false, "
            "NULL, 'or-1', 1, $as_of)",
            {"as_of": AS_OF},
        )


def test_a_tampered_artifact_is_refused_and_the_last_good_snapshot_stays_current(tiny):
    good = publish(tiny)
    scored_with_a_tampered_artifact(tiny)
    with pytest.raises(ArtifactIntegrityError, match="order_risk or-1: the artifact does not match the SHA-256"):
        publish(tiny)
    assert current_snapshot_dir(tiny.serving) == good.path
    assert [p.name for p in (tiny.serving / "snapshots").iterdir()] == [good.snapshot_id]  # no half-built folder


def test_unchanged_inputs_reuse_the_current_snapshot_and_any_change_publishes_anew(tiny):
    with connect(tiny.warehouse) as con:
        first = publish_if_changed(con, tiny.serving, tiny.models)
        again = publish_if_changed(con, tiny.serving, tiny.models)
        assert not first.reused
        assert again == snapshots.PublishedSnapshot(first.snapshot_id, first.path, first.rows, AS_OF, reused=True)
        assert json.loads((first.path / "manifest.json").read_text())["inputs_key"]

        con.execute("UPDATE scoring.customer_scores SET segment = 'changed' WHERE customer_id = 'alice'")
        changed_score = publish_if_changed(con, tiny.serving, tiny.models)
        add_events(con, [(2, "u11", "p-4", "purchase")])
        new_event = publish_if_changed(con, tiny.serving, tiny.models)
        # a promotion alone (no score table changes until the next run) must reach /v1/models
        register(con, "recommendation", "recommendation-v3", champion=False, validated=True)
        con.execute(
            "UPDATE ml.model_registry SET is_champion = (version = 'recommendation-v3') "
            "WHERE model_name = 'recommendation'"
        )
        promoted = publish_if_changed(con, tiny.serving, tiny.models)
        kept = publish_if_changed(con, tiny.serving, tiny.models)
    ids = [first.snapshot_id, changed_score.snapshot_id, new_event.snapshot_id, promoted.snapshot_id]
    assert len(set(ids)) == 4 and not any(s.reused for s in (changed_score, new_event, promoted))
    assert kept.reused and kept.snapshot_id == promoted.snapshot_id
    assert current_snapshot_dir(tiny.serving).name == promoted.snapshot_id
    versions = {m["model_name"]: m["version"] for m in Snapshot.load(promoted.path).models}
    assert versions["recommendation"] == "recommendation-v3"


def test_a_reused_snapshot_without_a_cut_off_reports_none(tiny):
    with connect(tiny.warehouse) as con:
        con.execute("DELETE FROM scoring.customer_scores")
        con.execute("DELETE FROM scoring.recommendations")
        first = publish_if_changed(con, tiny.serving, tiny.models)
        again = publish_if_changed(con, tiny.serving, tiny.models)
    assert first.as_of is None and again.reused and again.as_of is None


# --- the same snapshot from the lake (Spark mode; serving/lake_snapshot.py) --------------------------


def on_the_lake(tiny, tables=None) -> str:
    """The tiny warehouse's tables (or `tables`) written onto a lake beside it, with the lake's own writer."""
    lake_uri = (tiny.warehouse.parent / "lake").as_uri()
    with connect(tiny.warehouse) as con:
        for table in tables or [t for t in ddl.tables() if table_columns(con, t)]:
            lake.write_partitions_from_duckdb(con, f"SELECT * FROM {table}", lake.lake_table(lake_uri, table))
    return lake_uri


def snapshot_files(folder) -> dict[str, object]:
    """Every file of a snapshot by name: Parquet as its schema and rows, the manifest without its id
    and inputs key, any other file as its bytes."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name == "manifest.json":
            manifest = json.loads(path.read_text())
            files[path.name] = {k: v for k, v in manifest.items() if k not in ("snapshot_id", "inputs_key")}
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
            files[path.name] = (table.schema.remove_metadata(), table.to_pylist())
        else:
            files[path.name] = path.read_bytes()
    return files


def test_the_snapshot_from_the_lake_equals_the_one_from_the_warehouse(tiny):
    now = dt.datetime(2031, 4, 2, 6, 30, 5)
    lake_uri = on_the_lake(tiny)
    from_warehouse = publish(tiny, now=now)
    from_lake = lake_snapshot.publish_snapshot_from_lake(
        lake_uri, tiny.serving.parent / "lake-serving", tiny.models, now=now
    )

    assert (from_lake.rows, from_lake.as_of) == (from_warehouse.rows, AS_OF)
    assert from_lake.snapshot_id.startswith("20310402T063005-") and not from_lake.reused
    assert snapshot_files(from_lake.path) == snapshot_files(from_warehouse.path)
    assert {m["model_name"]: m["version"] for m in Snapshot.load(from_lake.path).models} == {
        "propensity": SCORES_VERSION,
        "recommendation": RECS_VERSION,
    }


def test_the_registry_may_stay_in_a_duckdb_file_beside_the_lake(tmp_path):
    tiny = tiny_shop(tmp_path / "o'shop")  # a quote in the registry file's path
    lake_uri = on_the_lake(tiny)  # its registry too, which the registry file then overrides
    with connect(tiny.warehouse) as con:
        register(con, "propensity", "propensity-v2", champion=False, validated=True)
        con.execute(
            "UPDATE ml.model_registry SET is_champion = (version = 'propensity-v2') WHERE model_name = 'propensity'"
        )
    now = dt.datetime(2031, 4, 2, 6, 30, 5)
    from_file = lake_snapshot.publish_snapshot_from_lake(
        lake_uri, tmp_path / "serving", tiny.models, registry=tiny.warehouse, now=now
    )
    from_warehouse = publish(tiny, now=now)
    assert snapshot_files(from_file.path) == snapshot_files(from_warehouse.path)
    assert {m["model_name"]: m["version"] for m in Snapshot.load(from_file.path).models}[
        "propensity"
    ] == "propensity-v2"


def test_a_registry_file_without_the_registry_tables_names_no_champion(tmp_path):
    tiny = tiny_shop(tmp_path / "home")
    lake_uri = on_the_lake(tiny)
    empty_registry = tmp_path / "empty.duckdb"
    with connect(empty_registry) as con:  # a DuckDB file with other tables only
        ddl.create(con, "scoring.customer_scores")
    published = lake_snapshot.publish_snapshot_from_lake(lake_uri, tiny.serving, tiny.models, registry=empty_registry)
    assert Snapshot.load(published.path).models == []
    assert published.rows["customer_scores"] == len(SCORES)  # the lake's tables are still read


def test_an_unchanged_lake_reuses_the_snapshot_and_a_new_write_or_champion_publishes(tiny):
    lake_uri = on_the_lake(tiny)
    first = lake_snapshot.publish_from_lake_if_changed(lake_uri, tiny.serving, tiny.models)
    again = lake_snapshot.publish_from_lake_if_changed(lake_uri, tiny.serving, tiny.models)
    assert not first.reused and first.as_of == AS_OF
    assert again == snapshots.PublishedSnapshot(first.snapshot_id, first.path, first.rows, AS_OF, reused=True)
    assert json.loads((first.path / "manifest.json").read_text())["inputs_key"] == lake_snapshot.lake_inputs_key(
        lake_uri
    )

    on_the_lake(tiny, ["scoring.customer_scores"])  # the same rows written again: new files
    rewritten = lake_snapshot.publish_from_lake_if_changed(lake_uri, tiny.serving, tiny.models)
    with connect(tiny.warehouse) as con:
        register(con, "recommendation", "recommendation-v3", champion=False, validated=True)
        con.execute(
            "UPDATE ml.model_registry SET is_champion = (version = 'recommendation-v3') "
            "WHERE model_name = 'recommendation'"
        )
    promoted = lake_snapshot.publish_from_lake_if_changed(lake_uri, tiny.serving, tiny.models, registry=tiny.warehouse)
    assert not rewritten.reused and not promoted.reused
    assert len({first.snapshot_id, rewritten.snapshot_id, promoted.snapshot_id}) == 3
    versions = {m["model_name"]: m["version"] for m in Snapshot.load(promoted.path).models}
    assert versions["recommendation"] == "recommendation-v3"


def test_a_lake_snapshot_without_scores_is_reused_with_no_cut_off(tmp_path):
    tiny = tiny_shop(tmp_path / "home")
    lake_uri = on_the_lake(tiny, ["staging.events"])  # no score table, no registry on the lake
    first = lake_snapshot.publish_from_lake_if_changed(lake_uri, tiny.serving, tiny.models)
    again = lake_snapshot.publish_from_lake_if_changed(lake_uri, tiny.serving, tiny.models)
    assert first.as_of is None and again.reused and again.as_of is None
    assert Snapshot.load(again.path).models == []


def test_a_change_of_the_serving_code_alone_publishes_anew(tiny, monkeypatch):
    """The snapshot's files are written by serving/ (and read by the served code): a new version of
    that code must not keep serving a snapshot the old one wrote, though no table changed."""
    from shop_pipeline.ml.common import lifecycle

    release = {"serving": "v1"}

    def code_version(folders=lifecycle.CODE_FOLDERS):  # the code's fingerprint, with serving/ at `release`
        return json.dumps([folders, release["serving"] if "serving" in folders else None])

    monkeypatch.setattr(lifecycle, "code_version", code_version)
    monkeypatch.setattr(lake_snapshot, "code_version", code_version)
    lake_uri = on_the_lake(tiny)
    with connect(tiny.warehouse) as con:
        first = publish_if_changed(con, tiny.serving, tiny.models)
        assert publish_if_changed(con, tiny.serving, tiny.models).reused
        release["serving"] = "v2"
        upgraded = publish_if_changed(con, tiny.serving, tiny.models)
    assert not upgraded.reused and upgraded.snapshot_id != first.snapshot_id

    lake_root = tiny.serving.parent / "lake-serving"
    from_lake = lake_snapshot.publish_from_lake_if_changed(lake_uri, lake_root, tiny.models)
    assert lake_snapshot.publish_from_lake_if_changed(lake_uri, lake_root, tiny.models).reused
    release["serving"] = "v3"
    assert not lake_snapshot.publish_from_lake_if_changed(lake_uri, lake_root, tiny.models).reused
    assert current_snapshot_dir(lake_root).name != from_lake.snapshot_id


def test_a_snapshot_is_stamped_in_utc_whatever_the_servers_time_zone(tiny, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/Sao_Paulo")  # UTC-3: local time would be three hours behind
    time.tzset()
    try:
        published = publish(tiny)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    stamped = dt.datetime.fromisoformat(json.loads((published.path / "manifest.json").read_text())["published_at"])
    utc_now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs(stamped - utc_now) < dt.timedelta(hours=1)
    assert published.snapshot_id.startswith(stamped.strftime("%Y%m%dT%H%M%S"))
