"""A model version's life: save and register it, record every comparison, gate, promote.

Shared by every model (no Dagster). A version's evaluations hold the challenger, the
baselines, and the current champion measured on the same held-out window (candidate
"champion"), so the gate compares like with like and a reader sees every comparison.

Which candidate a version serves is decided by measurement (`select_serving`): the best of the
servable candidates on the held-out window, the simpler one on a tie. Usually that is the
challenger; on data where a baseline wins (a transaction-only log where the boosted model
has too little to learn from, say) the version serves the baseline, the report says so, and
the shop still gets scores from the best model it has. Reference candidates that cannot serve
(a random score) must still be beaten by the margin, and so must the current champion.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from shop_pipeline.features.staged_changes import table_fingerprint
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.promotion import GateDecision, decide
from shop_pipeline.ml.common.spec import ModelSettings, ModelSpec, TrainedVersion, TrainingRun

CHAMPION_CANDIDATE = "champion"
SERVING_PARAMETER = "serving_candidate"  # in a version's registry parameters


def serving_candidate(row: registry.RegistryRow, default: str) -> str:
    """The candidate a registered version serves (versions from before the choice: `default`)."""
    return row.parameters.get(SERVING_PARAMETER, default)


# -- reuse: a version whose training inputs are unchanged is not trained again --------------------
#
# A training reads warehouse tables (a feature table, staged events up to the cut-off, labels),
# run settings (cut-off, horizons, seed) and the project's code. Its training key is the SHA-256
# of all three: row count and XOR of row hashes of each input (the same fingerprint idea as
# features/staged_changes.py), the settings as JSON, and the SHA-256 of the source of the model
# and feature code (ml/, features/, sql/) with the versions of the libraries that fit and save
# the models. A registered version with the same key (and its artifact intact) is what training
# would produce again: it is reused instead. Any change -- a late event, a new label, another
# seed, an edited query or model module, another scikit-learn -- gives another key: it trains.

_PACKAGE = Path(__file__).resolve().parents[2]  # shop_pipeline/
CODE_FOLDERS = ("ml", "features", "sql")
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "skops", "duckdb")


@cache
def code_version(folders: tuple[str, ...] = CODE_FOLDERS) -> str:
    """SHA-256 of the package's code in `folders` (default: the model and feature code, ml/,
    features/, sql/) and of the libraries' versions."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted((_PACKAGE / folder).rglob("*")):
            if path.suffix in (".py", ".sql") and path.is_file():
                digest.update(str(path.relative_to(_PACKAGE)).encode())
                digest.update(path.read_bytes())
    for library in LIBRARIES:
        try:
            digest.update(f"{library}={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library}=missing".encode())
    return digest.hexdigest()


def inputs_key(
    con: duckdb.DuckDBPyConnection,
    *,
    tables: dict[str, str],
    settings: dict[str, Any],
    as_of: dt.date,
    code: tuple[str, ...] = CODE_FOLDERS,
    fingerprints: dict[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """SHA-256 of the fingerprints of `tables` (table -> filter with parameter $as_of, or ""),
    `settings`, `as_of` and the version of the code in the package folders `code`; and the
    parts it was made of. `fingerprints` gives a table's fingerprint instead of reading its rows
    (a lake table read through a view: its published files)."""
    given = fingerprints or {}
    inputs = {
        "tables": {
            table: given[table]
            if table in given
            else table_fingerprint(con, table, where=where, params={"as_of": as_of} if "$as_of" in where else None)
            for table, where in sorted(tables.items())
        },
        "settings": json.loads(json.dumps({**settings, "as_of": as_of}, sort_keys=True, default=str)),
        "code": code_version(code),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest(), inputs


@dataclass(frozen=True)
class TrainingInputs:
    """What a training reads, its key, and the registered version it may reuse."""

    key: str
    inputs: dict[str, Any]  # input fingerprints, settings, code version
    reusable: registry.RegistryRow | None
    reason: str  # why it reuses, or why it trains


def training_inputs(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    *,
    tables: dict[str, str],
    settings: dict[str, Any],
    as_of: dt.date,
    models_dir: Path | str,
    data: duckdb.DuckDBPyConnection | None = None,
    fingerprints: dict[str, str] | None = None,
) -> TrainingInputs:
    """The training key of `model_name` over `tables` (table -> filter over its rows with
    parameter $as_of, "" for every row) and `settings`, and the version that may be reused
    (its artifact still in `models_dir`, the models folder of the home in use). `con` holds the
    registry; `data` what the training reads (default `con`: the warehouse; a training session
    of a sample, ml/common/training_data.py), `fingerprints` as in inputs_key."""
    key, inputs = inputs_key(
        con if data is None else data, tables=tables, settings=settings, as_of=as_of, fingerprints=fingerprints
    )
    reusable = registry.find_reusable(con, model_name, key, models_dir=models_dir)
    if reusable is not None:
        return TrainingInputs(
            key,
            inputs,
            reusable,
            f"training inputs unchanged since {reusable.version} "
            "(input tables, settings and code): reused, not trained again",
        )
    return TrainingInputs(key, inputs, None, _what_changed(registry.latest_trained(con, model_name), inputs))


def _what_changed(previous: registry.RegistryRow | None, inputs: dict[str, Any]) -> str:
    if previous is None:
        return "trained: no earlier version"
    before = previous.training_inputs
    if not before:
        return f"trained: {previous.version} records no training inputs"
    changed = [
        table
        for table in sorted(set(inputs["tables"]) | set(before.get("tables", {})))
        if inputs["tables"].get(table) != before.get("tables", {}).get(table)
    ]
    changed += [
        f"setting {name}"
        for name in sorted(set(inputs["settings"]) | set(before.get("settings", {})))
        if inputs["settings"].get(name) != before.get("settings", {}).get(name)
    ]
    if inputs["code"] != before.get("code"):
        changed.append("code or library versions")
    what = ", ".join(changed) if changed else f"the artifact of {previous.version} is missing or changed"
    return f"trained: changed since {previous.version}: {what}"


def reuse_version(con: duckdb.DuckDBPyConnection, training: TrainingInputs) -> registry.RegistryRow:
    """Record that this run reuses training.reusable; returns it."""
    row = training.reusable
    if row is None:
        raise ValueError("nothing to reuse: the training inputs changed")
    registry.mark_reused(con, row.model_name, row.version)
    return row


def register_trained(
    con: duckdb.DuckDBPyConnection,
    *,
    models_dir: Path,
    model_name: str,
    artifact: Any,
    parameters: dict[str, Any],
    features: list[str],
    window: tuple[dt.date, dt.date],
    train_start: dt.date | None,
    train_end: dt.date | None,
    as_of: dt.date,
    metrics: dict[str, dict[str, float]],
    champion_metrics: dict[str, float] | None,
    champion_version: str | None,
    notes: str | None = None,
    training: TrainingInputs | None = None,
) -> TrainedVersion:
    """Save the artifact (skops + SHA-256), register the version (with its training key, so that a
    later run on the same inputs reuses it), record its evaluations."""
    version = registry.make_version(parameters, (window, as_of))
    path, sha = registry.save_model(artifact, models_dir, model_name, version)
    registry.register(
        con,
        model_name=model_name,
        version=version,
        artifact_path=path,
        models_dir=models_dir,
        sha256=sha,
        features=features,
        parameters=parameters,
        train_start=train_start,
        train_end=train_end,
        as_of=as_of,
        notes=notes,
        training_key=training.key if training else None,
        training_inputs=training.inputs if training else None,
    )
    recorded = dict(metrics)
    if champion_metrics is not None:
        recorded[CHAMPION_CANDIDATE] = champion_metrics
    registry.record_evaluations(con, model_name, version, recorded, window[0], window[1])
    return TrainedVersion(model_name, version, str(path), sha, recorded, champion_version)


def gate_and_promote(
    con: duckdb.DuckDBPyConnection,
    *,
    model_name: str,
    version: str,
    servable: list[str],
    references: list[str],
    metric: str,
    higher_is_better: bool,
    min_improvement: float,
    reused: bool = False,
) -> tuple[GateDecision, registry.RegistryRow | None]:
    """Decide from the recorded evaluations; promote when the gate passes.

    A `reused` version (its training inputs unchanged) that is the champion already stays
    champion: the decision that made it champion is kept, nothing is promoted again.

    The version's serving candidate (its registry parameters) must be at least as good as the
    other servable candidates and beat the references and the champion by the margin.
    Returns the decision and the champion after it (the new version, the kept champion,
    or None when there is none: then nothing may be scored).
    """
    row = registry.get_version(con, model_name, version)
    if row is None:
        raise LookupError(f"{model_name} {version} is not in the registry")
    serving = serving_candidate(row, servable[-1])
    recorded = registry.evaluations(con, model_name, version)
    if serving not in recorded:
        raise LookupError(f"{model_name} {version}: no evaluation of its serving candidate {serving!r}")
    others = [name for name in servable if name != serving]
    decision = decide(
        recorded[serving],
        {name: recorded[name] for name in references if name in recorded},
        recorded.get(CHAMPION_CANDIDATE),
        metric,
        higher_is_better=higher_is_better,
        min_improvement=min_improvement,
        alternatives={name: recorded[name] for name in others if name in recorded},
    )
    decision.reasons.insert(0, f"version {version} serves {serving} (best {metric} of {', '.join(servable)})")
    missing = [name for name in [*references, *others] if name not in recorded]
    if missing:
        decision.reasons.append(f"REFUSE: candidates not evaluated: {', '.join(missing)}")
        decision = GateDecision(False, decision.reasons, decision.table_markdown, decision.comparisons)
    current = registry.champion(con, model_name)
    if reused and current is not None and current.version == version:
        decision.reasons.insert(
            0, f"KEEP: {version} is the champion and its training inputs are unchanged (reused, not trained again)"
        )
        return GateDecision(False, decision.reasons, decision.table_markdown, decision.comparisons), current
    if decision.promote:
        registry.promote(con, model_name, version)
    return decision, registry.champion(con, model_name)


@dataclass(frozen=True)
class ChampionComparison:
    version: str | None
    metrics: dict[str, float] | None
    note: str


def champion_comparison(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    window_start: dt.date,
    champion_candidate: str,
    measure,
) -> ChampionComparison:
    """The current champion's metrics for the gate (of the candidate it serves).

    Measured on the new held-out window (`measure(row)`, loading its artifact) only when the
    champion's training data ended before that window: otherwise it has seen those labels and
    would look better than it is. Then the champion's own held-out metrics, recorded when it
    was registered, stand in for it, and the note says so.
    """
    current = registry.champion(con, model_name)
    if current is None:
        return ChampionComparison(None, None, "no champion yet")
    if current.train_end is not None and current.train_end < window_start:
        return ChampionComparison(
            current.version, measure(current), f"champion {current.version} measured on this window"
        )
    recorded = registry.evaluations(con, model_name, current.version).get(
        serving_candidate(current, champion_candidate)
    )
    return ChampionComparison(
        current.version,
        recorded,
        f"champion {current.version} was trained on data up to {current.train_end}, inside this window: "
        "compared with its own held-out metrics from its registration",
    )


@dataclass(frozen=True)
class RegisteredRun:
    """A training run of `spec`, compared with the champion and registered."""

    run: TrainingRun
    champion: ChampionComparison | None  # None: nothing was measured, no comparison
    trained: TrainedVersion


def train_and_register(
    con: duckdb.DuckDBPyConnection,
    spec: ModelSpec,
    as_of: dt.date,
    settings: ModelSettings,
    *,
    training: TrainingInputs,
    models_dir: Path | str,
    data: duckdb.DuckDBPyConnection | None = None,
) -> RegisteredRun:
    """Every model's training, the same steps: train (spec.train: every candidate measured, the served one
    refit), measure the champion on the same held-out window (spec.evaluate_saved, when the run measured
    anything), save and register the version with every comparison (its training key from `training`).
    `con` holds the registry, `data` what the training reads (default `con`)."""
    run = spec.train(con if data is None else data, as_of, settings)
    champion = None
    if run.champion_window_start is not None:
        champion = champion_comparison(
            con,
            spec.name,
            run.champion_window_start,
            spec.default_candidate,
            lambda row: spec.evaluate_saved(run, spec.load(con, row, models_dir), row),
        )
    trained = register_trained(
        con,
        models_dir=models_dir,
        model_name=spec.name,
        artifact=run.fitted.to_artifact(),
        parameters={**run.parameters, SERVING_PARAMETER: run.serving_candidate},
        features=run.features,
        window=run.held_out,
        train_start=run.train_start,
        train_end=run.train_end,
        as_of=as_of,
        metrics=run.metrics,
        champion_metrics=None if champion is None else champion.metrics,
        champion_version=None if champion is None else champion.version,
        notes="; ".join(filter(None, [run.notes, None if champion is None else champion.note])),
        training=training,
    )
    return RegisteredRun(run, champion, trained)
