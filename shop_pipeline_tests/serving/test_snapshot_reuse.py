"""A run on unchanged data keeps the current serving snapshot; any change to what it copies publishes anew."""

import shutil

from shop_pipeline.serving.snapshot import current_snapshot_dir, publish_if_changed, serving_root
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect


def test_unchanged_inputs_keep_the_snapshot_and_a_changed_score_publishes_a_new_one(shop, tmp_path):
    home = ShopPaths.at(tmp_path / "copy")
    shutil.copytree(shop.home, home.home, ignore=shutil.ignore_patterns("landing", "dagster_home"))
    root = serving_root(home.home)
    with connect(home.warehouse) as con:
        first = publish_if_changed(con, root, home.models)  # the run's own snapshot has no key yet, or this one
        again = publish_if_changed(con, root, home.models)
        assert again.reused and again.snapshot_id == first.snapshot_id
        assert current_snapshot_dir(root).name == first.snapshot_id
        folders = sorted(p.name for p in (root / "snapshots").iterdir())

        con.execute("UPDATE scoring.customer_scores SET segment = 'changed' "
                    "WHERE customer_id = (SELECT min(customer_id) FROM scoring.customer_scores)")
        changed = publish_if_changed(con, root, home.models)
    assert not changed.reused and changed.snapshot_id != first.snapshot_id
    assert current_snapshot_dir(root).name == changed.snapshot_id
    assert changed.snapshot_id not in folders
