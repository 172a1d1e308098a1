"""Model registry: what is recorded for a version, where its artifact is looked for, how loads are
cached and checked, and what the registry refuses."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import duckdb
import pytest

from shop_pipeline.ml.common import registry

NAME = "propensity"


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    registry.ensure_registry_schema(c)
    yield c
    c.close()


def _register(con, models, version, obj=None, **kw):
    path, sha = registry.save_model(obj if obj is not None else {"version": version}, models, NAME, version)
    return registry.register(
        con,
        model_name=NAME,
        version=version,
        artifact_path=path,
        models_dir=models,
        sha256=sha,
        features=["a"],
        parameters={},
        **kw,
    )


def test_a_registered_version_records_when_it_was_trained_and_what_it_read(con, tmp_path):
    before = registry.utc_now()
    row = _register(
        con,
        tmp_path,
        "v1",
        train_start=dt.date(2025, 1, 1),
        train_end=dt.date(2025, 2, 1),
        as_of=dt.date(2025, 2, 2),
        training_key="k",
        training_inputs={"tables": {"t": "1:2"}},
    )
    assert before <= row.trained_at <= registry.utc_now() and row.trained_at.microsecond == 0
    assert row.trained_at.tzinfo is None
    assert (row.train_start, row.train_end, row.as_of) == (
        dt.date(2025, 1, 1),
        dt.date(2025, 2, 1),
        dt.date(2025, 2, 2),
    )
    assert row.training_key == "k" and row.training_inputs == {"tables": {"t": "1:2"}}
    assert row.promoted_at is None and row.reused_at is None and row.notes is None
    at = dt.datetime(2025, 2, 3, 4, 5, 6)
    v2 = _register(con, tmp_path, "v2", trained_at=at)
    assert v2.trained_at == at and v2.training_inputs is None and v2.training_key is None
    # a version without training inputs holds SQL NULL (not a JSON null) for readers of the table
    assert con.execute("SELECT version FROM ml.model_registry WHERE training_inputs IS NULL").fetchall() == [("v2",)]
    assert registry.get_version(con, NAME, "v3") is None
    assert registry.versions(con, "other") == []


def test_utc_now_is_utc_whatever_the_machine_time_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    try:
        now = registry.utc_now()
        aware = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert abs((aware - now).total_seconds()) < 5


def test_utc_now_is_naive_utc_to_the_second():
    now = registry.utc_now()
    aware = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert now.tzinfo is None and now.microsecond == 0
    assert abs((aware - now).total_seconds()) < 5


def test_a_version_name_names_its_parameters_and_window(tmp_path):
    at = dt.datetime(2025, 4, 1, 6, 30, 5)
    v = registry.make_version({"C": 1}, ["2025-01-01", dt.date(2025, 3, 31)], at)
    import hashlib
    import json

    expected = hashlib.sha256(
        json.dumps({"parameters": {"C": 1}, "window": ["2025-01-01", "2025-03-31"]}, sort_keys=True).encode()
    ).hexdigest()[:8]
    assert v == f"20250401T063005-{expected}"
    before = registry.utc_now()
    stamp = dt.datetime.strptime(registry.make_version({}, None).split("-")[0], "%Y%m%dT%H%M%S")
    assert before <= stamp <= registry.utc_now()


def test_file_sha256_reads_files_larger_than_one_chunk(tmp_path):
    data = bytes(range(256)) * 8193  # > 2 MiB
    path = tmp_path / "big"
    path.write_bytes(data)
    assert registry.file_sha256(path) == registry.sha256_bytes(data)
    import hashlib

    assert registry.sha256_bytes(b"abc") == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(
    "kind,value",
    [
        ("model_name", ""),
        ("model_name", "a/b"),
        ("model_name", "a\\b"),
        ("model_name", ".hidden"),
        ("version", "../v"),
        ("version", "v/1"),
        ("version", ""),
        ("version", "v\\1"),
        ("version", ".v"),
    ],
)
def test_names_that_would_leave_the_models_folder_are_refused(tmp_path, kind, value):
    names = {"model_name": NAME, "version": "v1", kind: value}
    with pytest.raises(ValueError, match=rf"^{kind} .* cannot be part of an artifact path"):
        registry.save_model({"a": 1}, tmp_path, names["model_name"], names["version"])
    assert not any(tmp_path.rglob("*.skops"))


def test_saving_the_same_version_again_keeps_the_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import skops.io as sio

    data = sio.dumps({"a": 1})  # skops writes object ids: fix the bytes, as a retried save of one object
    monkeypatch.setattr(sio, "dumps", lambda obj: data)
    path, sha = registry.save_model({"a": 1}, tmp_path / "models", NAME, "v1")
    assert path.read_bytes() == data and sha == registry.sha256_bytes(data)
    mtime = path.stat().st_mtime_ns
    assert registry.save_model({"a": 1}, tmp_path / "models", NAME, "v1") == (path, sha)
    monkeypatch.undo()
    assert path.stat().st_mtime_ns == mtime
    with pytest.raises(FileExistsError, match="versions are never overwritten"):
        registry.save_model({"a": 2}, tmp_path / "models", NAME, "v1")
    assert registry.file_sha256(path) == sha
    assert sorted(p.name for p in (tmp_path / "models" / NAME).iterdir()) == ["v1.skops"]


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    renamed = []

    def broken(src, dst):
        renamed.append((Path(src), Path(dst)))
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(registry.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        registry.save_model({"a": 1}, tmp_path, NAME, "v1")
    assert list((tmp_path / NAME).iterdir()) == []
    # written next to its final name (one folder, one file system: the rename is atomic)
    [(src, dst)] = renamed
    assert dst == tmp_path / NAME / "v1.skops" and src.parent == dst.parent and src.suffix != ".skops"


def test_stored_artifact_paths_are_relative_to_the_models_folder(tmp_path):
    models = tmp_path / "models"
    assert registry.relative_artifact_path(models / NAME / "v1.skops", models) == f"{NAME}/v1.skops"
    assert registry.relative_artifact_path(f"{NAME}/v1.skops", models) == f"{NAME}/v1.skops"
    for bad in ["../v1.skops", f"{NAME}/../../v1.skops", ""]:
        with pytest.raises(ValueError, match="cannot be stored relative to"):
            registry.relative_artifact_path(bad, models)
    with pytest.raises(ValueError, match="cannot be stored relative to"):
        registry.relative_artifact_path(models / ".." / "v1.skops", models)
    with pytest.raises(ValueError, match="cannot be stored relative to"):
        registry.relative_artifact_path(models, models)


def test_an_artifact_path_resolves_in_the_models_folder_in_use(tmp_path):
    models = tmp_path / "copy" / "models"
    assert registry.artifact_file(models, f"{NAME}/v1.skops") == models / NAME / "v1.skops"
    assert registry.artifact_file(models, "v1.skops") == models / "v1.skops"
    assert registry.artifact_file(str(models), f"{NAME}/v1.skops") == models / NAME / "v1.skops"
    # an old absolute path into some home's models folder: its last two parts, here
    assert registry.artifact_file(models, f"/old/home/models/{NAME}/v1.skops") == models / NAME / "v1.skops"
    assert registry.artifact_file(models, f"/models/{NAME}/v1.skops") == models / NAME / "v1.skops"
    # anything else absolute is used as recorded
    for other in [f"/old/home/elsewhere/{NAME}/v1.skops", f"/old/home/models/{NAME}/v1.pkl", "/models/v1.skops"]:
        assert registry.artifact_file(models, other) == Path(other)
    for bad in ["..", f"{NAME}/../../x.skops", ""]:
        with pytest.raises(ValueError, match="leaves the models folder"):
            registry.artifact_file(models, bad)


def test_a_registry_written_on_windows_resolves_in_the_models_folder_in_use(tmp_path, monkeypatch):
    """Where PurePath is Windows' (as on a Windows host), backslash paths are Windows paths and
    "/"-separated ones (what the registry stores) are still POSIX paths."""
    from pathlib import PureWindowsPath

    monkeypatch.setattr(registry, "PurePath", PureWindowsPath)
    models = tmp_path / "models"
    assert registry.artifact_file(models, f"{NAME}/v1.skops") == models / NAME / "v1.skops"
    assert registry.artifact_file(models, f"/old/home/models/{NAME}/v1.skops") == models / NAME / "v1.skops"
    assert registry.artifact_file(models, rf"C:\shop\models\{NAME}\v1.skops") == models / NAME / "v1.skops"
    assert registry.artifact_file(models, rf"{NAME}\v1.skops") == models / NAME / "v1.skops"


def test_two_champions_are_reported_not_guessed(con, tmp_path):
    _register(con, tmp_path, "v1")
    _register(con, tmp_path, "v2")
    con.execute("UPDATE ml.model_registry SET is_champion = true")
    with pytest.raises(RuntimeError, match="propensity has 2 champions"):
        registry.champion(con, NAME)


def test_promoting_the_champion_again_keeps_when_it_was_promoted(con, tmp_path):
    _register(con, tmp_path, "v1")
    _register(con, tmp_path, "v2")
    other = registry.register(
        con,
        model_name="order_risk",
        version="v1",
        artifact_path="order_risk/v1.skops",
        models_dir=tmp_path,
        sha256="x",
        features=[],
        parameters={},
    )
    registry.promote(con, "order_risk", other.version)
    before = registry.utc_now()
    row = registry.promote(con, NAME, "v1")
    assert row.is_champion and before <= row.promoted_at <= registry.utc_now()
    first = registry.promote(con, NAME, "v1", promoted_at=dt.datetime(2025, 1, 1)).promoted_at
    assert first == row.promoted_at
    registry.promote(con, NAME, "v2", promoted_at=dt.datetime(2025, 2, 1))
    assert registry.champion(con, NAME).promoted_at == dt.datetime(2025, 2, 1)
    assert registry.get_version(con, NAME, "v1").promoted_at == row.promoted_at, "when it last became champion"
    assert registry.champion(con, "order_risk").version == "v1", "another model's champion is untouched"
    with pytest.raises(LookupError, match="propensity version v3 is not registered"):
        registry.promote(con, NAME, "v3")
    with pytest.raises(LookupError, match=r"^demand_forecast: no champion in ml.model_registry$"):
        registry.load_model(con, "demand_forecast", models_dir=tmp_path)
    with pytest.raises(LookupError, match=r"^propensity: no version v3 in ml.model_registry$"):
        registry.load_model(con, NAME, "v3", models_dir=tmp_path)


def test_evaluations_record_their_window_and_time_and_only_for_their_version(con, tmp_path):
    _register(con, tmp_path, "v1")
    _register(con, tmp_path, "v2")
    at = dt.datetime(2025, 4, 1, 6)
    assert (
        registry.record_evaluations(
            con,
            NAME,
            "v1",
            {"hgb": {"auc": 0.8, "brier": "0.1"}, "random": {"auc": "x"}},
            dt.date(2025, 3, 1),
            dt.date(2025, 3, 31),
            evaluated_at=at,
        )
        == 3
    )
    registry.record_evaluations(con, NAME, "v2", {"hgb": {"auc": 0.7}})
    rows = con.execute(
        "SELECT candidate, metric, value, window_start, window_end, evaluated_at "
        "FROM ml.model_evaluations WHERE version = 'v1' ORDER BY candidate, metric"
    ).fetchall()
    assert rows == [
        ("hgb", "auc", 0.8, dt.date(2025, 3, 1), dt.date(2025, 3, 31), at),
        ("hgb", "brier", 0.1, dt.date(2025, 3, 1), dt.date(2025, 3, 31), at),
        ("random", "auc", None, dt.date(2025, 3, 1), dt.date(2025, 3, 31), at),
    ]
    before = registry.utc_now()
    assert registry.record_evaluations(con, NAME, "v2", {}) == 0
    assert registry.evaluations(con, NAME, "v2") == {}
    assert registry.evaluations(con, NAME, "v1") == {"hgb": {"auc": 0.8, "brier": 0.1}, "random": {"auc": None}}
    registry.record_evaluations(con, NAME, "v2", {"hgb": {"auc": -math_inf()}, "lr": {"auc": None}})
    assert registry.evaluations(con, NAME, "v2") == {"hgb": {"auc": None}, "lr": {"auc": None}}
    stamp = con.execute("SELECT max(evaluated_at) FROM ml.model_evaluations WHERE version = 'v2'").fetchone()[0]
    assert before <= stamp <= registry.utc_now()


def math_inf():
    return float("inf")


def test_loaded_artifacts_are_kept_for_the_most_recent_few_only(con, tmp_path):
    registry.forget_loaded_models()
    rows = [_register(con, tmp_path, f"v{i}") for i in range(registry.LOADED_MODELS_KEPT + 1)]
    loaded = {
        row.version: registry.load_model(con, NAME, row.version, models_dir=tmp_path)
        for row in rows[: registry.LOADED_MODELS_KEPT]
    }  # v0 .. v7: all kept
    assert all(registry.load_model(con, NAME, v, models_dir=tmp_path) is m for v, m in loaded.items())
    assert registry.load_model(con, NAME, "v0", models_dir=tmp_path) is loaded["v0"]  # used last
    registry.load_model(con, NAME, rows[-1].version, models_dir=tmp_path)  # one too many
    assert registry.load_model(con, NAME, "v0", models_dir=tmp_path) is loaded["v0"]
    # v1 was the least recently used: it was dropped, and is parsed again
    again = registry.load_model(con, NAME, "v1", models_dir=tmp_path)
    assert again == {"version": "v1"} and again is not loaded["v1"]
    registry.forget_loaded_models()
    assert registry.load_model(con, NAME, "v0", models_dir=tmp_path) is not loaded["v0"]


def test_an_artifact_naming_a_moved_module_loads_as_the_new_one(tmp_path, monkeypatch):
    """An artifact saved before the model packages names the estimator's old module: it loads
    as the class that lives in the new one."""
    from shop_pipeline.ml.propensity.bgnbd import BetaGeoClassifier

    monkeypatch.delitem(sys.modules, "shop_pipeline.ml.bgnbd", raising=False)
    est = BetaGeoClassifier()
    monkeypatch.setattr(BetaGeoClassifier, "__module__", "shop_pipeline.ml.bgnbd")
    import types

    old = types.ModuleType("shop_pipeline.ml.bgnbd")
    old.BetaGeoClassifier = BetaGeoClassifier
    monkeypatch.setitem(sys.modules, "shop_pipeline.ml.bgnbd", old)
    path, sha = registry.save_model({"model": est}, tmp_path, NAME, "v-old")
    monkeypatch.setattr(BetaGeoClassifier, "__module__", "shop_pipeline.ml.propensity.bgnbd")
    monkeypatch.delitem(sys.modules, "shop_pipeline.ml.bgnbd")
    assert b"shop_pipeline.ml.bgnbd" in Path(path).read_bytes()
    registry.forget_loaded_models()
    loaded = registry.load_artifact(path, sha)
    assert type(loaded["model"]) is BetaGeoClassifier
    assert sys.modules["shop_pipeline.ml.bgnbd"].__name__ == "shop_pipeline.ml.propensity.bgnbd"
