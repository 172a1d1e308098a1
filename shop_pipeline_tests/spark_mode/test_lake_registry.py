"""The model registry and its artifacts on the lake (Spark mode): what a block changes is published with
write-audit-publish, a failed block publishes nothing, a concurrent publish is refused, and artifacts
under a models URI are written aside, never overwritten and checked by their SHA-256 on load."""

from __future__ import annotations

import datetime as dt

import pyarrow.fs as pafs
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.engine.lake_views import lake_fingerprint
from shop_pipeline.ml.common import registry
from shop_pipeline.spark_mode.lake_registry import RegistryChanged, lake_registry

NAME = "propensity"
ARTIFACT = {"columns": ["a", "b"], "threshold": 0.5}


def _register(con, models: str, version: str) -> registry.RegistryRow:
    path, sha = registry.save_model(ARTIFACT, models, NAME, version)
    row = registry.register(
        con,
        model_name=NAME,
        version=version,
        artifact_path=path,
        models_dir=models,
        sha256=sha,
        features=["a", "b"],
        parameters={"seed": 1},
        as_of=dt.date(2026, 3, 1),
    )
    registry.record_evaluations(con, NAME, version, {"challenger": {"roc_auc": 0.7}})
    return row


@pytest.fixture
def lake_uri(tmp_path):
    return (tmp_path / "lake").as_uri()


def test_a_registered_and_promoted_version_is_on_the_lake(lake_uri):
    models = f"{lake_uri}/_models"
    with lake_registry(lake_uri) as con:
        row = _register(con, models, "20260301T000000-aaaaaaaa")
        registry.promote(con, NAME, row.version)
    assert row.artifact_path == f"{NAME}/{row.version}.skops"  # relative: resolves on every machine
    with lake_registry(lake_uri) as con:  # a new session (another run) reads it back from the lake
        champion = registry.champion(con, NAME)
        assert champion is not None and champion.version == row.version
        assert registry.evaluations(con, NAME, row.version) == {"challenger": {"roc_auc": 0.7}}
        assert registry.load_model(con, NAME, models_dir=models) == ARTIFACT
        assert registry.find_reusable(con, NAME, "no-key", models_dir=models) is None


def test_a_failed_block_publishes_nothing(lake_uri):
    models = f"{lake_uri}/_models"
    with lake_registry(lake_uri) as con:
        _register(con, models, "20260301T000000-aaaaaaaa")
    before = lake_fingerprint(lake_uri, "ml.model_registry")
    with pytest.raises(RuntimeError, match="training failed"), lake_registry(lake_uri) as con:
        _register(con, models, "20260302T000000-bbbbbbbb")
        raise RuntimeError("training failed")
    assert lake_fingerprint(lake_uri, "ml.model_registry") == before
    with lake_registry(lake_uri) as con:
        assert [r.version for r in registry.versions(con, NAME)] == ["20260301T000000-aaaaaaaa"]


def test_runs_at_once_keep_each_others_versions(lake_uri):
    models = f"{lake_uri}/_models"
    with lake_registry(lake_uri) as slow:  # a long training of one model ...
        _register(slow, models, "20260301T000000-aaaaaaaa")
        with lake_registry(lake_uri) as fast:  # ... while another run registers and publishes first
            _register(fast, models, "20260302T000000-bbbbbbbb")
    with lake_registry(lake_uri) as con:
        assert [r.version for r in registry.versions(con, NAME)] == [
            "20260301T000000-aaaaaaaa",
            "20260302T000000-bbbbbbbb",
        ]
        assert set(registry.evaluations(con, NAME, "20260302T000000-bbbbbbbb")) == {"challenger"}
    fs, folder = lake.lake_table(lake_uri, "ml.model_registry").filesystem()
    assert not fs.get_file_info(pafs.FileSelector(f"{folder}/_wap", allow_not_found=True))  # nothing left aside


def test_a_row_changed_by_two_runs_is_refused(lake_uri):
    models = f"{lake_uri}/_models"
    with lake_registry(lake_uri) as con:
        first = _register(con, models, "20260301T000000-aaaaaaaa")
        second = _register(con, models, "20260302T000000-bbbbbbbb")
    with pytest.raises(RegistryChanged), lake_registry(lake_uri) as slow:
        registry.promote(slow, NAME, first.version)
        with lake_registry(lake_uri) as fast:  # another run promotes the other version meanwhile
            registry.promote(fast, NAME, second.version)
    with lake_registry(lake_uri) as con:  # one champion: the other run's; nothing of the refused one
        assert registry.champion(con, NAME).version == second.version


def test_artifacts_under_a_models_uri_are_checked_and_never_overwritten(lake_uri, tmp_path):
    models = f"{lake_uri}/_models"
    path, sha = registry.save_model(ARTIFACT, models, NAME, "v1")
    assert path == f"{models}/{NAME}/v1.skops"
    with pytest.raises(FileExistsError):
        registry.save_model({"other": 1}, models, NAME, "v1")
    folder = tmp_path / "lake" / "_models" / NAME
    assert sorted(p.name for p in folder.iterdir()) == ["v1.skops"]  # nothing left aside
    assert registry.load_artifact(path, sha) == ARTIFACT
    (folder / "v1.skops").write_bytes(b"tampered")
    with pytest.raises(registry.ArtifactIntegrityError):
        registry.load_artifact(path, sha)
    assert registry.artifact_sha256(f"{models}/{NAME}/missing.skops") is None
