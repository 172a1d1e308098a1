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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from shop_pipeline.ml import registry
from shop_pipeline.ml.promotion import GateDecision, decide, select_serving  # noqa: F401 (re-exported)

CHAMPION_CANDIDATE = "champion"
SERVING_PARAMETER = "serving_candidate"   # in a version's registry parameters


def serving_candidate(row: registry.RegistryRow, default: str) -> str:
    """The candidate a registered version serves (versions from before the choice: `default`)."""
    return row.parameters.get(SERVING_PARAMETER, default)


@dataclass(frozen=True)
class TrainedVersion:
    model_name: str
    version: str
    artifact_path: str
    sha256: str
    metrics: dict[str, dict[str, float]]  # candidate -> metric -> value
    champion_version: str | None  # the champion it was compared with, if any


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
) -> TrainedVersion:
    """Save the artifact (skops + SHA-256), register the version, record its evaluations."""
    version = registry.make_version(parameters, (window, as_of))
    path, sha = registry.save_model(artifact, models_dir, model_name, version)
    registry.register(
        con, model_name=model_name, version=version, artifact_path=path, sha256=sha, features=features,
        parameters=parameters, train_start=train_start, train_end=train_end, as_of=as_of, notes=notes,
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
) -> tuple[GateDecision, registry.RegistryRow | None]:
    """Decide from the recorded evaluations; promote when the gate passes.

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
        return ChampionComparison(current.version, measure(current), f"champion {current.version} measured on this window")
    recorded = registry.evaluations(con, model_name, current.version).get(serving_candidate(current, champion_candidate))
    return ChampionComparison(
        current.version,
        recorded,
        f"champion {current.version} was trained on data up to {current.train_end}, inside this window: "
        "compared with its own held-out metrics from its registration",
    )
