"""A run on unchanged data keeps the current serving snapshot; any change to what it copies publishes anew."""

from shop_pipeline.serving.prediction_log import PredictionLog
from shop_pipeline.serving.snapshot import current_snapshot_dir, publish_if_changed, serving_root
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.serving.helpers import app_client, copied_shop


def test_unchanged_inputs_keep_the_snapshot_and_a_changed_score_publishes_a_new_one(shop, tmp_path):
    home = copied_shop(shop, tmp_path / "copy")
    root = serving_root(home.home)
    with connect(home.warehouse) as con:
        first = publish_if_changed(con, root, home.models)  # the run's own snapshot has no key yet, or this one
        again = publish_if_changed(con, root, home.models)
        assert again.reused and again.snapshot_id == first.snapshot_id
        assert current_snapshot_dir(root).name == first.snapshot_id
        folders = sorted(p.name for p in (root / "snapshots").iterdir())

        con.execute(
            "UPDATE scoring.customer_scores SET segment = 'changed' "
            "WHERE customer_id = (SELECT min(customer_id) FROM scoring.customer_scores)"
        )
        changed = publish_if_changed(con, root, home.models)
    assert not changed.reused and changed.snapshot_id != first.snapshot_id
    assert current_snapshot_dir(root).name == changed.snapshot_id
    assert changed.snapshot_id not in folders


def test_a_new_champion_alone_publishes_a_snapshot_that_models_lists(shop, tmp_path):
    """A promotion changes no score table (the scores are rewritten by the next run): /v1/models must
    still name the new champion rather than the snapshot of the old one being kept."""
    home = copied_shop(shop, tmp_path / "copy")
    root = serving_root(home.home)
    with connect(home.warehouse) as con:
        kept = publish_if_changed(con, root, home.models)
        assert publish_if_changed(con, root, home.models).reused  # nothing changed yet: kept
        model_name, old = con.execute(
            "SELECT model_name, version FROM ml.model_registry WHERE is_champion ORDER BY model_name LIMIT 1"
        ).fetchone()
        new = old + "-promoted"
        # a challenger (same artifact and evaluations, another version) becomes champion
        con.execute(
            "INSERT INTO ml.model_registry SELECT * REPLACE ($new AS version, true AS is_champion) "
            "FROM ml.model_registry WHERE model_name = $name AND version = $old",
            {"new": new, "name": model_name, "old": old},
        )
        con.execute(
            "INSERT INTO ml.model_evaluations SELECT * REPLACE ($new AS version) "
            "FROM ml.model_evaluations WHERE model_name = $name AND version = $old",
            {"new": new, "name": model_name, "old": old},
        )
        con.execute(
            "UPDATE ml.model_registry SET is_champion = false WHERE model_name = $name AND version = $old",
            {"name": model_name, "old": old},
        )
        promoted = publish_if_changed(con, root, home.models)
    assert not promoted.reused and promoted.snapshot_id != kept.snapshot_id
    with app_client(root, prediction_log=PredictionLog(tmp_path / "logs")) as client:
        body = client.get("/v1/models").json()
    assert body["snapshot_id"] == promoted.snapshot_id
    assert {m["model_name"]: m["version"] for m in body["models"]}[model_name] == new
