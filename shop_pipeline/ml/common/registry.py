"""Model registry in the warehouse: versions, evaluations, champion, safe artifacts (no Dagster).

Tables (fixed DDL: sql/tables/ml.*.sql, created by `ensure_registry_schema`):
    ml.model_registry     one row per trained version: training window, features, parameters,
                          artifact path and its SHA-256, and whether it is the champion.
    ml.model_evaluations  one row per (version, candidate, metric): baselines are candidates too,
                          so a reader sees every comparison behind a promotion decision.

Artifact paths are stored relative to the models folder ($SHOP_PIPELINE_HOME/models):
`<model_name>/<version>.skops`, resolved against the models folder of the home in use
(`artifact_file`), so a copied or restored home loads its own files, never the original's.

The models folder is a local folder, or in Spark mode a URI every executor reads
(`file:///...`, `s3://bucket/prefix`, ...: `is_uri`), reached through `pyarrow.fs`; the same
guarantees hold there (written aside then moved into place, never overwritten with other bytes,
the SHA-256 checked on every load).

Artifacts are saved with skops (no code runs on load). Loading reads the file once, checks its
SHA-256 against the registry (a mismatch is refused: `ArtifactIntegrityError`), then lets skops
build only types on an explicit allow-list (anything else: `UntrustedArtifactError`).

A model's registry name is MODEL_NAME in ml/<model>/candidates.py, the name of its assets too
(demand_forecast, propensity, recommendation, order_risk); rows written under an earlier name are
renamed by `ensure_registry_schema` (RENAMED_MODELS).

Every write is one transaction; every value reaches SQL as a parameter, never as SQL text.
Timestamps are naive UTC (the warehouse session runs in UTC).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
import sys
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

import duckdb

from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction

# sql/tables/ml.<table>.sql, created (and migrated) by ensure_registry_schema
REGISTRY_TABLES = ("ml.model_registry", "ml.model_evaluations", "ml.drift_references")

ARTIFACT_SUFFIX = ".skops"

# Models renamed since warehouses were written (old -> new registry name: the name of the model's
# assets and package). ensure_registry_schema moves their rows, every time and idempotently; their
# artifacts stay where artifact_path says.
RENAMED_MODELS = {"purchase_propensity": "propensity", "product_recommendations": "recommendation"}
MODEL_NAME_TABLES = ("ml.model_registry", "ml.model_evaluations", "ml.drift_references")

# Types skops may construct beyond its own defaults. scikit-learn estimators and their helpers
# (skops builds them without running their code paths beyond __setstate__), and plain numpy
# value types. Anything else in a file (a pickle-able callable, another library) is refused.
ALLOWED_TYPE_PREFIXES = ("sklearn.",)
ALLOWED_TYPES = frozenset(
    {
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.float32",
        "numpy.int64",
        "numpy.int32",
        "numpy.int8",
        "numpy.bool_",
        "numpy.ufunc",
        "numpy.log1p",
        "numpy.random._generator.Generator",
        "numpy.random.mtrand.RandomState",
        "numpy.random._pcg64.PCG64",
        "numpy.random._mt19937.MT19937",
        "builtins.slice",
        "builtins.frozenset",
        # the forecaster's TransformedTargetRegressor(func=np.log1p, inverse_func=np.expm1) and
        # scikit-learn's own partial(check_array, ...) helpers
        "numpy.expm1",
        "functools.partial",
        # the project's own BG/NBD estimator (four fitted numbers, no callables), and its path
        # before the model packages (artifacts saved then name it so: MOVED_MODULES)
        "shop_pipeline.ml.propensity.bgnbd.BetaGeoClassifier",
        "shop_pipeline.ml.bgnbd.BetaGeoClassifier",
    }
)
# skops finds a type by the module written in the file: an artifact saved before a project
# module moved names the old module, which is loaded as the new one.
MOVED_MODULES = {"shop_pipeline.ml.bgnbd": "shop_pipeline.ml.propensity.bgnbd"}


class ArtifactIntegrityError(RuntimeError):
    """The artifact on disk is not the one the registry recorded."""


class UntrustedArtifactError(RuntimeError):
    """The artifact holds types outside the allow-list."""


@dataclass(frozen=True)
class RegistryRow:
    model_name: str
    version: str
    trained_at: dt.datetime
    train_start: dt.date | None
    train_end: dt.date | None
    as_of: dt.date | None
    features: list[str]
    parameters: dict[str, Any]
    artifact_path: str
    sha256: str
    is_champion: bool
    promoted_at: dt.datetime | None
    notes: str | None
    training_key: str | None = None
    training_inputs: dict[str, Any] | None = None
    reused_at: dt.datetime | None = None


_COLUMNS = ddl.column_names("ml.model_registry")  # the fields of RegistryRow, in order


def ensure_registry_schema(con: duckdb.DuckDBPyConnection) -> None:
    with transaction(con):
        ddl.create(con, *REGISTRY_TABLES)
        for old, new in RENAMED_MODELS.items():
            for table in MODEL_NAME_TABLES:
                con.execute(f"UPDATE {table} SET model_name = $new WHERE model_name = $old", {"new": new, "old": old})


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def make_version(
    parameters: dict[str, Any],
    window: Any,
    trained_at: dt.datetime | None = None,
) -> str:
    """Sortable, deterministic for the same parameters + data window + second:
    YYYYMMDDTHHMMSS-<first 8 hex of sha256(parameters, window)>."""
    trained_at = trained_at or utc_now()
    digest = hashlib.sha256(_json({"parameters": parameters, "window": window}).encode())
    return f"{trained_at:%Y%m%dT%H%M%S}-{digest.hexdigest()[:8]}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_name(kind: str, value: str) -> None:
    if not value or "/" in value or "\\" in value or value.startswith("."):
        raise ValueError(f"{kind} {value!r} cannot be part of an artifact path")


def relative_artifact_path(artifact_path: str | os.PathLike, models_dir: str | os.PathLike) -> str:
    """What the registry stores for `artifact_path`: its path relative to `models_dir`
    (`<model_name>/<version>.skops`, "/"-separated). A path outside `models_dir` is refused."""
    if is_uri(models_dir):
        prefix = str(models_dir).rstrip("/") + "/"
        text = str(artifact_path)
        if "://" in text:
            if not text.startswith(prefix):
                raise ValueError(f"artifact {artifact_path} is not inside the models URI {models_dir}")
            artifact_path = text[len(prefix) :]
    path = Path(artifact_path)
    if path.is_absolute():
        try:
            path = path.relative_to(Path(models_dir))
        except ValueError:
            raise ValueError(f"artifact {artifact_path} is not inside the models folder {models_dir}") from None
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"artifact path {artifact_path!r} cannot be stored relative to {models_dir}")
    return path.as_posix()


def is_uri(models_dir: str | os.PathLike) -> bool:
    """Whether `models_dir` is a URI (`file:///...`, `s3://...`) rather than a local folder."""
    return isinstance(models_dir, str) and "://" in models_dir


def _uri_filesystem(uri: str):
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(uri)


def artifact_location(models_dir: str | os.PathLike, stored_path: str) -> str | Path:
    """`artifact_file` for a local models folder; for a models URI, the artifact's URI below it."""
    if not is_uri(models_dir):
        return artifact_file(models_dir, stored_path)
    relative = artifact_file("/models", stored_path)
    if not relative.is_relative_to("/models"):
        raise ValueError(f"artifact path {stored_path!r} is not inside the models URI {models_dir}")
    return f"{str(models_dir).rstrip('/')}/{relative.relative_to('/models').as_posix()}"


def read_artifact_bytes(location: str | os.PathLike) -> bytes:
    """The bytes of an artifact file: a local path, or a URI (pyarrow.fs)."""
    if not is_uri(location):
        return Path(location).read_bytes()
    fs, path = _uri_filesystem(str(location))
    with fs.open_input_stream(path) as source:
        return source.read()


def artifact_sha256(location: str | os.PathLike) -> str | None:
    """The SHA-256 of an artifact file, None when there is no such file."""
    if not is_uri(location):
        path = Path(location)
        return file_sha256(path) if path.is_file() else None
    import pyarrow.fs as pafs

    fs, path = _uri_filesystem(str(location))
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    return sha256_bytes(read_artifact_bytes(location))


def artifact_file(models_dir: str | os.PathLike, stored_path: str) -> Path:
    """The file a registry artifact_path names, in the models folder of the home in use.

    Relative paths (written since the registry stored them so) resolve against `models_dir`.
    Warehouses written earlier hold absolute paths into the home they were trained in; one that
    lies under some `.../models/<model_name>/<version>.skops` is resolved by its last two parts
    against `models_dir`, so an old copied or restored home also loads its own files and never
    the original home's. Any other absolute path is used as recorded."""
    path = PurePosixPath(stored_path) if "/" in stored_path else PurePath(stored_path)
    if not path.is_absolute():
        if ".." in path.parts or not path.parts:
            raise ValueError(f"artifact path {stored_path!r} leaves the models folder")
        return Path(models_dir).joinpath(*path.parts)
    parts = path.parts
    if len(parts) >= 4 and parts[-3] == "models" and parts[-1].endswith(ARTIFACT_SUFFIX):
        return Path(models_dir) / parts[-2] / parts[-1]
    return Path(stored_path)


def save_model(
    obj: Any,
    models_dir: str | os.PathLike,
    model_name: str,
    version: str,
) -> tuple[Path, str]:
    """Write `obj` with skops to models_dir/model_name/version.skops (atomically: temp file +
    rename) and return (path, sha256). An existing file with other bytes is never replaced."""
    _check_name("model_name", model_name)
    _check_name("version", version)
    import skops.io as sio  # 1.5 s with scikit-learn: only when a model is saved or loaded

    data = sio.dumps(obj)
    digest = sha256_bytes(data)
    if is_uri(models_dir):
        return _save_to_uri(data, digest, str(models_dir), model_name, version)
    folder = Path(models_dir) / model_name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}{ARTIFACT_SUFFIX}"
    if path.exists():
        if file_sha256(path) == digest:
            return path, digest
        raise FileExistsError(f"{path} already exists with different content; versions are never overwritten")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{version}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path, digest


def _save_to_uri(data: bytes, digest: str, models_uri: str, model_name: str, version: str) -> tuple[str, str]:
    """save_model below a models URI: written aside (a dot-file of its own name), then moved into
    place; an existing file with other bytes is never replaced. Returns (its URI, sha256)."""
    import uuid

    import pyarrow.fs as pafs

    target = f"{models_uri.rstrip('/')}/{model_name}/{version}{ARTIFACT_SUFFIX}"
    fs, path = _uri_filesystem(target)
    folder = path.rsplit("/", 1)[0]
    existing = artifact_sha256(target)
    if existing is not None:
        if existing == digest:
            return target, digest
        raise FileExistsError(f"{target} already exists with different content; versions are never overwritten")
    fs.create_dir(folder, recursive=True)
    aside = f"{folder}/.{version}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open_output_stream(aside) as sink:
            sink.write(data)
        with fs.open_input_stream(aside) as written:
            if sha256_bytes(written.read()) != digest:
                raise ArtifactIntegrityError(f"{target}: the bytes written aside are not the bytes saved")
        fs.move(aside, path)
    except BaseException:
        if fs.get_file_info(aside).type == pafs.FileType.File:
            fs.delete_file(aside)
        raise
    return target, digest


def _allowed(type_name: str) -> bool:
    return type_name in ALLOWED_TYPES or type_name.startswith(ALLOWED_TYPE_PREFIXES)


# Loaded artifacts by the SHA-256 of their bytes, most recent last: the bytes are still read
# and hashed on every load, so a changed file is never served from here. Callers only
# predict with what they get (nothing mutates a loaded model).
LOADED_MODELS_KEPT = 8
_LOADED: OrderedDict[str, Any] = OrderedDict()


def load_artifact(path: str | os.PathLike, expected_sha256: str) -> Any:
    """Load a skops file only if its bytes hash to `expected_sha256` and every type it needs
    is on the allow-list. The bytes that are hashed are the bytes that are loaded."""
    data = read_artifact_bytes(path)
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"refusing to load {path}: its SHA-256 is {actual} but the registry recorded "
            f"{expected_sha256} (the file was changed or replaced after registration)"
        )
    if actual in _LOADED:
        # the same verified bytes were loaded already in this process (a run's scoring and
        # drift steps use the same champion): parsing skops costs more than the model's use
        _LOADED.move_to_end(actual)
        return _LOADED[actual]
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    refused = sorted(t for t in untrusted if not _allowed(t))
    if refused:
        raise UntrustedArtifactError(f"refusing to load {path}: types outside the allow-list: {refused}")
    for old, new in MOVED_MODULES.items():
        if any(t.startswith(old + ".") for t in untrusted):
            sys.modules.setdefault(old, importlib.import_module(new))
    loaded = sio.loads(data, trusted=untrusted)
    _LOADED[actual] = loaded
    while len(_LOADED) > LOADED_MODELS_KEPT:
        _LOADED.popitem(last=False)
    return loaded


def forget_loaded_models() -> None:
    """Empty the process's cache of loaded artifacts (as a new run process starts)."""
    _LOADED.clear()


def _row(values: tuple) -> RegistryRow:
    d = dict(zip(_COLUMNS, values, strict=True))
    d["features"] = json.loads(d["features"])
    d["parameters"] = json.loads(d["parameters"])
    d["training_inputs"] = None if d["training_inputs"] is None else json.loads(d["training_inputs"])
    return RegistryRow(**d)


def get_version(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    version: str,
) -> RegistryRow | None:
    r = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM ml.model_registry WHERE model_name = ? AND version = ?",
        [model_name, version],
    ).fetchone()
    return None if r is None else _row(r)


def versions(con: duckdb.DuckDBPyConnection, model_name: str) -> list[RegistryRow]:
    rows = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM ml.model_registry WHERE model_name = ? ORDER BY version", [model_name]
    ).fetchall()
    return [_row(r) for r in rows]


def champion(con: duckdb.DuckDBPyConnection, model_name: str) -> RegistryRow | None:
    rows = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM ml.model_registry WHERE model_name = ? AND is_champion", [model_name]
    ).fetchall()
    if len(rows) > 1:  # cannot happen through promote(); say so rather than pick one
        raise RuntimeError(f"{model_name} has {len(rows)} champions in ml.model_registry")
    return _row(rows[0]) if rows else None


def load_model(
    con: duckdb.DuckDBPyConnection, model_name: str, version: str | None = None, *, models_dir: str | os.PathLike
) -> Any:
    """The artifact of `version` (default: the champion) from `models_dir` (the models folder of
    the shop home in use), hash-checked against the registry."""
    row = champion(con, model_name) if version is None else get_version(con, model_name, version)
    if row is None:
        what = "no champion" if version is None else f"no version {version}"
        raise LookupError(f"{model_name}: {what} in ml.model_registry")
    return load_artifact(artifact_location(models_dir, row.artifact_path), row.sha256)


def register(
    con: duckdb.DuckDBPyConnection,
    *,
    model_name: str,
    version: str,
    artifact_path: str | os.PathLike,
    models_dir: str | os.PathLike,
    sha256: str,
    features: list[str],
    parameters: dict[str, Any],
    train_start: Any = None,
    train_end: Any = None,
    as_of: Any = None,
    trained_at: dt.datetime | None = None,
    notes: str | None = None,
    training_key: str | None = None,
    training_inputs: dict[str, Any] | None = None,
) -> RegistryRow:
    """Insert a (not yet champion) version. Registering the same version twice is an error.

    `artifact_path` is stored relative to `models_dir` (see `relative_artifact_path`).
    `training_key` identifies what the training read (see `find_reusable`)."""
    values = [
        model_name,
        version,
        trained_at or utc_now(),
        train_start,
        train_end,
        as_of,
        _json(list(features)),
        _json(parameters),
        relative_artifact_path(artifact_path, models_dir),
        sha256,
        False,
        None,
        notes,
        training_key,
        None if training_inputs is None else _json(training_inputs),
        None,
    ]
    with transaction(con):
        if con.execute(
            "SELECT 1 FROM ml.model_registry WHERE model_name = ? AND version = ?", [model_name, version]
        ).fetchone():
            raise ValueError(f"{model_name} version {version} is already registered")
        con.execute(
            f"INSERT INTO ml.model_registry ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", values
        )
    row = get_version(con, model_name, version)
    assert row is not None
    return row


def latest_trained(con: duckdb.DuckDBPyConnection, model_name: str) -> RegistryRow | None:
    """The most recently trained version of `model_name` (None when there is none)."""
    r = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM ml.model_registry WHERE model_name = ? "
        "ORDER BY trained_at DESC, version DESC LIMIT 1",
        [model_name],
    ).fetchone()
    return None if r is None else _row(r)


def find_reusable(
    con: duckdb.DuckDBPyConnection, model_name: str, training_key: str, *, models_dir: str | os.PathLike
) -> RegistryRow | None:
    """The newest version trained with `training_key` whose artifact is still in `models_dir`
    (the models folder of the home in use) with the SHA-256 the registry recorded (a missing or
    changed file is not reused: None)."""
    rows = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM ml.model_registry "
        "WHERE model_name = ? AND training_key = ? ORDER BY trained_at DESC, version DESC",
        [model_name, training_key],
    ).fetchall()
    for r in rows:
        row = _row(r)
        if artifact_sha256(artifact_location(models_dir, row.artifact_path)) == row.sha256:
            return row
    return None


def mark_reused(con: duckdb.DuckDBPyConnection, model_name: str, version: str, at: dt.datetime | None = None) -> None:
    """Record that a run reused `version` instead of training anew."""
    with transaction(con):
        con.execute(
            "UPDATE ml.model_registry SET reused_at = ? WHERE model_name = ? AND version = ?",
            [at or utc_now(), model_name, version],
        )


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def record_evaluations(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    version: str,
    metrics: dict[str, dict[str, float]],
    window_start: Any = None,
    window_end: Any = None,
    evaluated_at: dt.datetime | None = None,
) -> int:
    """Replace the evaluations of (model_name, version) with `metrics`
    (candidate -> metric -> value); NaN and infinities are stored as NULL. Returns the row count."""
    at = evaluated_at or utc_now()
    rows = [
        [model_name, version, cand, metric, _number(value), window_start, window_end, at]
        for cand, ms in metrics.items()
        for metric, value in ms.items()
    ]
    with transaction(con):
        con.execute("DELETE FROM ml.model_evaluations WHERE model_name = ? AND version = ?", [model_name, version])
        if rows:
            con.executemany(
                "INSERT INTO ml.model_evaluations (model_name, version, candidate, "
                "metric, value, window_start, window_end, evaluated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    return len(rows)


def evaluations(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    version: str,
) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for cand, metric, value in con.execute(
        "SELECT candidate, metric, value FROM ml.model_evaluations "
        "WHERE model_name = ? AND version = ? ORDER BY candidate, metric",
        [model_name, version],
    ).fetchall():
        out.setdefault(cand, {})[metric] = value
    return out


def promote(
    con: duckdb.DuckDBPyConnection, model_name: str, version: str, promoted_at: dt.datetime | None = None
) -> RegistryRow:
    """Make `version` the only champion of `model_name`, in one transaction: a reader sees the
    old champion or the new one, never none or two."""
    at = promoted_at or utc_now()
    with transaction(con):
        if not con.execute(
            "SELECT 1 FROM ml.model_registry WHERE model_name = ? AND version = ?", [model_name, version]
        ).fetchone():
            raise LookupError(f"{model_name} version {version} is not registered")
        con.execute(
            "UPDATE ml.model_registry SET is_champion = false WHERE model_name = ? AND is_champion AND version <> ?",
            [model_name, version],
        )
        con.execute(
            "UPDATE ml.model_registry SET is_champion = true, promoted_at = ? "
            "WHERE model_name = ? AND version = ? AND NOT is_champion",
            [at, model_name, version],
        )
    row = get_version(con, model_name, version)
    assert row is not None
    return row
