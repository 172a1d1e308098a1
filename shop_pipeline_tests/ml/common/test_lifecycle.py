"""A model version's life (no Dagster): a training whose inputs are unchanged reuses its version,
unless the version's artifact is no longer the file that was registered."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from shop_pipeline.ml.common import lifecycle, registry

NAME = "propensity"
AS_OF = dt.date(2025, 3, 31)
SETTINGS = {"seed": 0, "horizon_days": 14}


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    registry.ensure_registry_schema(c)
    yield c
    c.close()


def _artifact(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return {"classifier": LogisticRegression().fit(X, y), "columns": ["a", "b", "c"]}


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _replace_with_another_model(path):
    path.write_bytes(sio.dumps(_artifact(seed=7)))  # a valid artifact, of the same size


@pytest.mark.parametrize("tamper", [_flip_a_byte, _replace_with_another_model])
def test_an_artifact_changed_to_same_size_bytes_is_not_reused_on_an_unchanged_run(con, tmp_path, tamper):
    """An unchanged run reuses the version trained on the same inputs only while its artifact
    is the file that was registered: a corrupted or swapped file of the very same size is
    trained again (and a load of it is refused), never served as that version."""
    models = tmp_path / "models"
    first = lifecycle.training_inputs(con, NAME, tables={}, settings=SETTINGS, as_of=AS_OF, models_dir=models)
    assert first.reusable is None
    path, sha = registry.save_model(_artifact(seed=0), models, NAME, "v1")
    registry.register(
        con,
        model_name=NAME,
        version="v1",
        artifact_path=path,
        models_dir=models,
        sha256=sha,
        features=["a", "b", "c"],
        parameters=SETTINGS,
        as_of=AS_OF,
        training_key=first.key,
        training_inputs=first.inputs,
    )
    again = lifecycle.training_inputs(con, NAME, tables={}, settings=SETTINGS, as_of=AS_OF, models_dir=models)
    assert again.key == first.key and again.reusable is not None and again.reusable.version == "v1"

    size = path.stat().st_size
    tamper(path)
    assert path.stat().st_size == size and registry.file_sha256(path) != sha

    after = lifecycle.training_inputs(con, NAME, tables={}, settings=SETTINGS, as_of=AS_OF, models_dir=models)
    assert after.key == first.key, "the inputs did not change: only the artifact did"
    assert after.reusable is None
    assert after.reason == "trained: changed since v1: the artifact of v1 is missing or changed"
    with pytest.raises(ValueError, match="nothing to reuse"):
        lifecycle.reuse_version(con, after)
    registry.forget_loaded_models()
    with pytest.raises(registry.ArtifactIntegrityError):
        registry.load_model(con, NAME, "v1", models_dir=models)
