"""Publishing the serving snapshot: what it refuses to publish, and what a refused publish leaves behind."""

import pytest
from dagster import DagsterInstance, materialize

from shop_pipeline.defs.serving import serving_snapshot
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.snapshot_files import scored_version
from shop_pipeline.resources import default_resources
from shop_pipeline.serving.snapshot import current_snapshot_dir, publish_if_changed, serving_root
from shop_pipeline.serving.store import Snapshot
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.serving.helpers import copied_shop


@pytest.mark.parametrize(
    "scores, model_name",
    [
        ("scoring.order_risk_scores", "order_risk"),
        ("scoring.demand_forecasts", "demand_forecast"),
    ],
)
def test_a_tampered_artifact_fails_the_publish_and_the_old_snapshot_stays_current(shop, tmp_path, scores, model_name):
    """An artifact whose bytes changed after registration must fail the pipeline's serving_snapshot step with
    a message that says so, not be published into a snapshot the server then refuses to load."""
    home = copied_shop(shop, tmp_path / "copy")
    root = serving_root(home.home)
    with connect(home.warehouse) as con:
        before = publish_if_changed(con, root, home.models).snapshot_id
        # the next run has something new to publish (else the current snapshot is kept and nothing is copied)
        con.execute(
            "UPDATE scoring.customer_scores SET segment = 'changed' "
            "WHERE customer_id = (SELECT min(customer_id) FROM scoring.customer_scores)"
        )
        row, _ = scored_version(con, scores, model_name)
    artifact = registry.artifact_file(home.models, row.artifact_path)
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    folders = sorted(p.name for p in (root / "snapshots").iterdir())

    result = materialize(
        [serving_snapshot],
        resources=default_resources(home),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure and e.step_key == "serving_snapshot")
    error = failure.step_failure_data.error.to_string()
    assert "ArtifactIntegrityError" in error and "SHA-256" in error
    assert f"{model_name} {row.version}" in error
    assert current_snapshot_dir(root).name == before  # the server keeps answering from the last good snapshot
    assert sorted(p.name for p in (root / "snapshots").iterdir()) == folders  # no half-built folder is left
    assert Snapshot.load(current_snapshot_dir(root)).snapshot_id == before
