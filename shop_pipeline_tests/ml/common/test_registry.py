"""Model registry: skops round trip, hash-checked loads, allow-list, atomic champion switch."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys

import duckdb
import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from shop_pipeline.ml.common.registry import (
    ArtifactIntegrityError,
    UntrustedArtifactError,
    artifact_file,
    champion,
    ensure_registry_schema,
    evaluations,
    file_sha256,
    find_reusable,
    forget_loaded_models,
    load_artifact,
    load_model,
    make_version,
    promote,
    record_evaluations,
    register,
    save_model,
    versions,
)

NAME = "propensity"


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    ensure_registry_schema(c)
    ensure_registry_schema(c)  # idempotent
    yield c
    c.close()


def _model(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return LogisticRegression().fit(X, y), X


def _register(con, tmp_path, version, seed=0, **kw):
    model, _ = _model(seed)
    path, sha = save_model({"classifier": model, "columns": ["a", "b", "c"]}, tmp_path / "models", NAME, version)
    return register(
        con,
        model_name=NAME,
        version=version,
        artifact_path=path,
        models_dir=tmp_path / "models",
        sha256=sha,
        features=["a", "b", "c"],
        parameters={"C": 1.0, "seed": seed},
        train_start=dt.date(2025, 1, 1),
        train_end=dt.date(2025, 3, 1),
        as_of=dt.date(2025, 3, 31),
        **kw,
    )


def test_round_trip(con, tmp_path):
    model, X = _model()
    v = make_version({"C": 1.0}, {"train": ["2025-01-01", "2025-03-01"]}, dt.datetime(2025, 4, 1, 6, 30, 5))
    assert v.startswith("20250401T063005-") and len(v) == len("20250401T063005-") + 8
    path, sha = save_model({"classifier": model, "columns": ["a", "b", "c"]}, tmp_path, NAME, v)
    assert path == tmp_path / NAME / f"{v}.skops" and sha == file_sha256(path)
    row = register(
        con,
        model_name=NAME,
        version=v,
        artifact_path=path,
        models_dir=tmp_path,
        sha256=sha,
        features=["a", "b", "c"],
        parameters={"C": 1.0, "window": [1, 2]},
        train_start=dt.date(2025, 1, 1),
        train_end=dt.date(2025, 3, 1),
        as_of=dt.date(2025, 3, 31),
        notes="first",
    )
    assert row.features == ["a", "b", "c"] and row.parameters == {"C": 1.0, "window": [1, 2]}
    assert row.train_end == dt.date(2025, 3, 1) and not row.is_champion and row.notes == "first"
    stored = con.execute("SELECT features, parameters FROM ml.model_registry").fetchone()
    assert json.loads(stored[0]) == ["a", "b", "c"]
    assert row.artifact_path == f"{NAME}/{v}.skops"  # relative to the models folder
    back = load_model(con, NAME, v, models_dir=tmp_path)
    np.testing.assert_array_equal(back["classifier"].predict_proba(X), model.predict_proba(X))
    assert back["columns"] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="already registered"):
        register(
            con,
            model_name=NAME,
            version=v,
            artifact_path=path,
            models_dir=tmp_path,
            sha256=sha,
            features=[],
            parameters={},
        )


def test_versions_are_deterministic_and_sortable():
    at = dt.datetime(2025, 4, 1, 6, 30, 5)
    a = make_version({"C": 1.0, "seed": 0}, "2025-01-01..2025-03-31", at)
    assert a == make_version({"seed": 0, "C": 1.0}, "2025-01-01..2025-03-31", at)
    assert a != make_version({"C": 2.0, "seed": 0}, "2025-01-01..2025-03-31", at)
    assert a != make_version({"C": 1.0, "seed": 0}, "2025-01-02..2025-03-31", at)
    later = make_version({"C": 0.1}, "x", at + dt.timedelta(seconds=1))
    assert sorted([later, a]) == [a, later]


def test_tampered_artifact_is_refused(con, tmp_path):
    row = _register(con, tmp_path, "20250401T000000-aaaaaaaa")
    data = bytearray(artifact_file(tmp_path / "models", row.artifact_path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact_file(tmp_path / "models", row.artifact_path).write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match=r"refusing to load .* SHA-256"):
        load_model(con, NAME, row.version, models_dir=tmp_path / "models")


def test_a_loaded_artifact_is_parsed_once_but_its_bytes_are_checked_every_time(con, tmp_path):
    row = _register(con, tmp_path, "20250401T000000-aaaaaaaa")
    forget_loaded_models()
    first = load_model(con, NAME, row.version, models_dir=tmp_path / "models")
    assert load_model(con, NAME, row.version, models_dir=tmp_path / "models") is first
    data = bytearray(artifact_file(tmp_path / "models", row.artifact_path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact_file(tmp_path / "models", row.artifact_path).write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError):
        load_model(
            con, NAME, row.version, models_dir=tmp_path / "models"
        )  # loaded before, changed since: refused all the same


def test_a_valid_but_different_artifact_is_refused(con, tmp_path):
    row = _register(con, tmp_path, "20250401T000000-aaaaaaaa")
    other, _ = _model(seed=5)
    sio.dump(
        {"classifier": other, "columns": ["a", "b", "c"]}, artifact_file(tmp_path / "models", row.artifact_path)
    )  # swapped file
    with pytest.raises(ArtifactIntegrityError):
        load_model(con, NAME, row.version, models_dir=tmp_path / "models")


class NotAllowed:
    def __init__(self):
        self.x = 1


def test_types_outside_the_allow_list_are_refused(tmp_path):
    path, sha = save_model({"thing": NotAllowed()}, tmp_path, NAME, "20250401T000000-bbbbbbbb")
    with pytest.raises(UntrustedArtifactError, match="NotAllowed"):
        load_artifact(path, sha)


@pytest.mark.parametrize("module", ["sklearnevil", "sklearn_extra", "sklearnx.linear_model"])
def test_a_type_from_a_module_merely_named_like_sklearn_is_refused_and_sklearn_still_loads(
    tmp_path, monkeypatch, module
):
    """The allow-list admits scikit-learn's own types, not any module whose name begins with
    'sklearn' (a package anyone can publish): an artifact naming one is refused before any of
    its code could run, while a real scikit-learn model in the same kind of file loads."""
    import types

    impostor = types.ModuleType(module)
    thing = type("Thing", (), {"__module__": module, "x": 1})
    impostor.Thing = thing
    monkeypatch.setitem(sys.modules, module, impostor)
    model, X = _model()
    path, sha = save_model({"classifier": model, "helper": thing()}, tmp_path, NAME, "v-impostor")
    with pytest.raises(UntrustedArtifactError, match=rf"\['{module}\.Thing'\]"):
        load_artifact(path, sha)

    # a gradient-boosted model holds a scikit-learn type skops does not trust by itself (its
    # TreePredictor): only the allow-list admits it
    from sklearn.ensemble import HistGradientBoostingClassifier

    boosted = HistGradientBoostingClassifier(max_iter=5).fit(X, X[:, 0] > 0)
    real, real_sha = save_model({"classifier": boosted, "columns": ["a", "b", "c"]}, tmp_path, NAME, "v-sklearn")
    assert any(t.startswith("sklearn.") for t in sio.get_untrusted_types(data=real.read_bytes()))
    forget_loaded_models()
    loaded = load_artifact(real, real_sha)
    np.testing.assert_allclose(loaded["classifier"].predict_proba(X), boosted.predict_proba(X))


def test_an_existing_version_is_never_overwritten(tmp_path):
    save_model({"a": 1}, tmp_path, NAME, "v1")
    with pytest.raises(FileExistsError):
        save_model({"a": 2}, tmp_path, NAME, "v1")
    with pytest.raises(ValueError):
        save_model({"a": 2}, tmp_path, NAME, "../escape")


def test_champion_switch(con, tmp_path):
    a = _register(con, tmp_path, "20250401T000000-aaaaaaaa").version
    b = _register(con, tmp_path, "20250402T000000-bbbbbbbb", seed=1).version
    assert champion(con, NAME) is None
    with pytest.raises(LookupError, match="no champion"):
        load_model(con, NAME, models_dir=tmp_path / "models")
    promote(con, NAME, a, promoted_at=dt.datetime(2025, 4, 1, 7))
    promote(con, NAME, a)  # again: still the one champion
    assert champion(con, NAME).version == a
    assert champion(con, NAME).promoted_at == dt.datetime(2025, 4, 1, 7)
    promote(con, NAME, b)
    flags = dict(con.execute("SELECT version, is_champion FROM ml.model_registry").fetchall())
    assert flags == {a: False, b: True}
    assert load_model(con, NAME, models_dir=tmp_path / "models")["columns"] == ["a", "b", "c"]  # the champion's
    with pytest.raises(LookupError, match="not registered"):
        promote(con, NAME, "20990101T000000-nope0000")
    assert champion(con, NAME).version == b
    assert [r.version for r in versions(con, NAME)] == [a, b]


class FailingOn:
    """A connection that fails on the statement containing `needle` (to kill a promotion)."""

    def __init__(self, con, needle):
        self._con, self._needle = con, needle

    def execute(self, query, *args):
        if self._needle in query:
            raise duckdb.IOException("disk full (simulated)")
        return self._con.execute(query, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_champion_switch_is_atomic(con, tmp_path):
    a = _register(con, tmp_path, "20250401T000000-aaaaaaaa").version
    b = _register(con, tmp_path, "20250402T000000-bbbbbbbb", seed=1).version
    promote(con, NAME, a)
    # the old champion is unset, then setting the new one fails: all of it is rolled back
    with pytest.raises(duckdb.IOException):
        promote(FailingOn(con, "SET is_champion = true"), NAME, b)
    assert champion(con, NAME).version == a
    assert con.execute("SELECT count(*) FROM ml.model_registry WHERE is_champion").fetchone()[0] == 1


def test_evaluations_replace_and_keep_undefined_values_as_null(con, tmp_path):
    v = _register(con, tmp_path, "20250401T000000-aaaaaaaa").version
    n = record_evaluations(
        con,
        NAME,
        v,
        {
            "hgb_calibrated": {"roc_auc": 0.81, "brier": 0.12},
            "logistic_rfm": {"roc_auc": 0.78, "brier": 0.13},
            "random": {"roc_auc": float("nan"), "brier": math.inf},
        },
        dt.date(2025, 3, 2),
        dt.date(2025, 3, 31),
    )
    assert n == 6
    ev = evaluations(con, NAME, v)
    assert ev["hgb_calibrated"]["roc_auc"] == 0.81 and ev["random"] == {"roc_auc": None, "brier": None}
    record_evaluations(con, NAME, v, {"hgb_calibrated": {"roc_auc": 0.82}})
    assert evaluations(con, NAME, v) == {"hgb_calibrated": {"roc_auc": 0.82}}
    window = con.execute("SELECT DISTINCT window_start, window_end FROM ml.model_evaluations").fetchall()
    assert window == [(None, None)]


def test_a_warehouse_written_under_the_old_model_names_keeps_its_versions_and_champion(con, tmp_path):
    """purchase_propensity became propensity (the name of its assets and package): the schema step
    renames the rows, idempotently, and the artifacts load from where they were saved."""
    model, X = _model()
    path, sha = save_model({"classifier": model}, tmp_path, "purchase_propensity", "v1")
    register(
        con,
        model_name="purchase_propensity",
        version="v1",
        artifact_path=path,
        models_dir=tmp_path,
        sha256=sha,
        features=["a", "b", "c"],
        parameters={},
    )
    promote(con, "purchase_propensity", "v1")
    record_evaluations(con, "purchase_propensity", "v1", {"hgb_calibrated": {"roc_auc": 0.8}})
    con.execute(
        "INSERT INTO ml.drift_references VALUES ('product_recommendations', 'v1', 10, 'f', [1.0], [0.5, 0.5], 3, now())"
    )
    ensure_registry_schema(con)
    ensure_registry_schema(con)
    assert champion(con, "propensity").version == "v1" and champion(con, "purchase_propensity") is None
    assert evaluations(con, "propensity", "v1") == {"hgb_calibrated": {"roc_auc": 0.8}}
    assert con.execute("SELECT DISTINCT model_name FROM ml.drift_references").fetchall() == [("recommendation",)]
    loaded = load_model(con, "propensity", "v1", models_dir=tmp_path)["classifier"]
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_values_with_quotes_are_parameters_not_sql(con, tmp_path):
    name = "o'brien\"; DROP TABLE ml.model_registry; --"
    model, _ = _model()
    path, sha = save_model(model, tmp_path, "quoted", "v1")
    register(
        con,
        model_name=name,
        version="v1",
        artifact_path=path,
        models_dir=tmp_path,
        sha256=sha,
        features=["it's"],
        parameters={"q": "'"},
        notes="'; --",
    )
    promote(con, name, "v1")
    assert champion(con, name).features == ["it's"]
    assert champion(con, name).notes == "'; --"


def test_a_copied_models_folder_loads_its_own_artifacts_and_old_absolute_paths_resolve_there(con, tmp_path):
    import shutil

    original, copy = tmp_path / "home" / "models", tmp_path / "copy" / "models"
    model, _X = _model()
    path, sha = save_model({"classifier": model, "columns": ["a", "b", "c"]}, original, NAME, "v1")
    row = register(
        con,
        model_name=NAME,
        version="v1",
        artifact_path=path,
        models_dir=original,
        sha256=sha,
        features=["a", "b", "c"],
        parameters={},
        training_key="k",
    )
    assert row.artifact_path == f"{NAME}/v1.skops"
    shutil.copytree(original, copy)
    shutil.rmtree(original)  # the original home's files are gone: the copy must not need them
    assert load_model(con, NAME, "v1", models_dir=copy)["columns"] == ["a", "b", "c"]
    assert find_reusable(con, NAME, "k", models_dir=copy).version == "v1"
    assert find_reusable(con, NAME, "k", models_dir=original) is None
    # a registry written before paths were relative holds the original home's absolute path
    con.execute("UPDATE ml.model_registry SET artifact_path = ?", [str(path)])
    assert artifact_file(copy, str(path)) == copy / NAME / "v1.skops"
    assert load_model(con, NAME, "v1", models_dir=copy)["columns"] == ["a", "b", "c"]
    assert find_reusable(con, NAME, "k", models_dir=copy).version == "v1"
    with pytest.raises(ValueError, match="not inside the models folder"):
        register(
            con,
            model_name=NAME,
            version="v2",
            artifact_path=tmp_path / "elsewhere.skops",
            models_dir=copy,
            sha256=sha,
            features=[],
            parameters={},
        )
    with pytest.raises(ValueError, match="leaves the models folder"):
        artifact_file(copy, "../../etc/passwd")
