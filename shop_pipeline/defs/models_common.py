"""Wiring shared by the model stages: version lineage, the promotion gate check, images, and
`skips_when_data_is_short` (defs/skips.py), which every model asset wears under its `@asset` so a
shop too short for the model skips it with a one-line reason instead of failing the run."""

import contextlib
from collections.abc import Callable

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from shop_pipeline.defs import schemas
from shop_pipeline.defs.common import DUCKDB_POOL, SCORE_FRESHNESS, scores_follow_new_data
from shop_pipeline.defs.skips import skips_when_data_is_short  # the stages import it from here too
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.lifecycle import (
    SERVING_PARAMETER,
    TrainingInputs,
    gate_and_promote,
    inputs_key,
    reuse_version,
    training_inputs,
)
from shop_pipeline.resources import ModelingWindow, ModelThreads, Warehouse

ML_TEAM = ["team:ml"]
PROMOTION_GATE_CHECK = "promotion_gate"


def latest_metadata(context, asset_name: str) -> dict:
    """Key -> value of what the upstream training asset's latest materialization recorded."""
    event = context.instance.get_latest_materialization_event(AssetKey(asset_name))
    if event is None or event.asset_materialization is None:
        raise RuntimeError(f"{asset_name} has not been materialized: train it first")
    return {key: entry.value for key, entry in event.asset_materialization.metadata.items()}


REUSED_KEY = "reused_version"
SCORES_REWRITTEN = "scores_rewritten"  # False: champion and inputs unchanged, the table was kept


def prepare_training(context, con, model_name: str, *, tables: dict[str, str], settings: dict, as_of,
                     models_dir) -> TrainingInputs:
    """The training key of this run and the registered version it may reuse (ml/common/lifecycle.py; its
    artifact in `models_dir`, the shop home's models folder); logged."""
    training = training_inputs(con, model_name, tables=tables, settings=settings, as_of=as_of,
                               models_dir=models_dir)
    context.log.info(f"{model_name}: {training.reason}")
    return training


def training_metadata(training: TrainingInputs) -> dict:
    """What every training materialization says about reuse."""
    return {REUSED_KEY: training.reusable is not None, "reason": training.reason,
            "training_key": training.key[:16]}


def reused_result(con, training: TrainingInputs, *, reports, as_of, metric_names, extra=None) -> MaterializeResult:
    """The materialization of a training asset that reuses training.reusable: its version,
    serving candidate and held-out metrics as registered, the report written when it was trained."""
    row = reuse_version(con, training)
    serving = row.parameters.get(SERVING_PARAMETER)
    recorded = registry.evaluations(con, row.model_name, row.version)
    report = reports / f"{row.model_name}-{row.version}.html"
    metadata = {
        "model_version": row.version,
        "serving_candidate": serving or "unknown",
        "as_of": as_of.isoformat(),
        **training_metadata(training),
        "trained_at": row.trained_at.isoformat(),
        **float_metrics(recorded.get(serving, {}), metric_names),
        **(extra(row) if extra else {}),
    }
    if report.is_file():
        metadata["report"] = MetadataValue.path(str(report))
    return MaterializeResult(metadata=metadata)


def upstream_metadata(context, asset_name: str, key: str):
    """One value the upstream training asset's latest materialization recorded (None when absent)."""
    return latest_metadata(context, asset_name).get(key)


def upstream_version(context, asset_name: str) -> str:
    """The model version that the upstream training asset produced (read from its metadata)."""
    version = upstream_metadata(context, asset_name, "model_version")
    if version is None:
        raise RuntimeError(f"{asset_name}'s latest materialization records no model_version")
    return version



def gate_verdict(decision, champion_after, version: str) -> str:
    if decision.promote:
        return f"promoted {version}"
    if champion_after is not None and champion_after.version == version:
        return f"kept {version}: champion already, training inputs unchanged"
    if champion_after is not None:
        return f"refused {version}; champion {champion_after.version} stays"
    return f"refused {version}; there is no champion, so nothing can be scored"


def gate_check_result(decision, champion_after, version: str,
                      severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
    """Passes when a champion exists after the decision: the new version, or the kept one.

    Fails (blocking scoring) only when no model has ever passed the gate; with
    severity WARN the failure is shown but does not block (a model that cannot be measured).
    """
    verdict = gate_verdict(decision, champion_after, version)
    return AssetCheckResult(
        check_name=PROMOTION_GATE_CHECK,
        passed=champion_after is not None,
        severity=severity,
        metadata={
            "decision": verdict,
            "promoted": decision.promote,
            "champion": champion_after.version if champion_after else "none",
            "reasons": MetadataValue.md("\n".join(f"- {reason}" for reason in decision.reasons)),
            "comparisons": MetadataValue.md(decision.table_markdown),
        },
    )


def run_promotion_gate(context, warehouse, window, *, model_name: str, training_asset: str, servable: list[str],
                       references: list[str], metric: str, higher_is_better: bool,
                       severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
                       competing: Callable[[registry.RegistryRow | None], list[str]] | None = None):
    """The body of a `*_champion` asset: gate the version the training asset produced. `competing(row)`
    narrows `servable` to the candidates that competed in that version (a version may measure fewer)."""
    trained = latest_metadata(context, training_asset)
    version = trained.get("model_version")
    if version is None:
        raise RuntimeError(f"{training_asset}'s latest materialization records no model_version")
    with warehouse.connection() as con:
        registry.ensure_registry_schema(con)
        if competing is not None:
            servable = competing(registry.get_version(con, model_name, version))
        decision, champion_after = gate_and_promote(
            con, model_name=model_name, version=version, servable=servable, references=references,
            metric=metric, higher_is_better=higher_is_better, min_improvement=window.min_improvement,
            reused=bool(trained.get(REUSED_KEY)),
        )
    yield gate_check_result(decision, champion_after, version, severity)
    yield MaterializeResult(
        metadata={
            "model_version": version,
            "decision": gate_verdict(decision, champion_after, version),
            "promoted": decision.promote,
            "champion_version": champion_after.version if champion_after else "none",
            "comparisons": MetadataValue.md(decision.table_markdown),
        }
    )


def promotion_gate_asset(*, name: str, model_name: str, training_asset: str, servable: list[str],
                         references: list[str], metric: str, higher_is_better: bool, what: str,
                         unmeasured_mode: str | None = None,
                         competing: Callable[[registry.RegistryRow | None], list[str]] | None = None):
    """A `*_champion` asset of group `evaluation` with its blocking `promotion_gate` check.

    A version whose training recorded mode `unmeasured_mode` (nothing could measure it: a new shop,
    no labels) is refused with a warning instead of a block: scoring then serves it unvalidated
    (serving_version). `competing`: see run_promotion_gate.
    """
    better = "higher" if higher_is_better else "lower"
    beaten = f" and beats {', '.join(references)}," if references else ""

    @asset(
        name=name,
        group_name="evaluation",
        kinds={"duckdb"},
        owners=ML_TEAM,
        pool=DUCKDB_POOL,
        deps=[training_asset],
        description=(
            f"The promotion gate of {what}: the version {training_asset} registered becomes champion only when its "
            f"served candidate's {metric} ({better} is better) is at least every other servable candidate's "
            f"{'that competed in that version ' if competing else ''}({', '.join(servable)}) on the held-out "
            f"window{beaten} and beats the current champion's by the "
            "configured margin. The blocking check fails only when no champion exists, so scoring never runs "
            "without one."
        ),
        check_specs=[AssetCheckSpec(PROMOTION_GATE_CHECK, asset=name, blocking=True,
                                    description="A champion that passed the gate exists after the decision.")],
    )
    @skips_when_data_is_short
    def gate(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow):
        yield from run_promotion_gate(
            context, warehouse, window, model_name=model_name, training_asset=training_asset, servable=servable,
            references=references, metric=metric, higher_is_better=higher_is_better, competing=competing,
            severity=AssetCheckSeverity.WARN
            if unmeasured_mode is not None and upstream_metadata(context, training_asset, "mode") == unmeasured_mode
            else AssetCheckSeverity.ERROR,
        )

    return gate


def scoring_key(con, current, *, tables: dict[str, str], as_of, settings: dict | None = None) -> str:
    """The inputs key of a score table computed by champion `current` (warehouse/scores.py):
    the same key, the same scores, so they are not computed and written again."""
    key, _ = inputs_key(con, tables=tables, as_of=as_of,
                        settings={"model_name": current.model_name, "model_version": current.version,
                                  "sha256": current.sha256, **(settings or {})})
    return key


def float_metrics(values: dict[str, float], names) -> dict[str, float]:
    """The named metrics that have a value (not None, not NaN), as floats the UI can chart."""
    return {name: float(values[name]) for name in names if values.get(name) is not None and values[name] == values[name]}


def serving_version(context: AssetExecutionContext, con, model_name: str, training_asset: str,
                    unmeasured_mode: str):
    """(registry row, validated) of the version scoring uses: the champion, or when none was promoted
    because nothing could measure the latest training (mode `unmeasured_mode`), that version."""
    current = registry.champion(con, model_name)
    if current is not None:
        return current, True
    trained = latest_metadata(context, training_asset)
    if trained.get("mode") != unmeasured_mode:
        raise RuntimeError(f"{model_name} has no champion: nothing can be scored")
    return registry.get_version(con, model_name, trained["model_version"]), False


def require_champion(con, model_name: str):
    """The model's champion registry row; RuntimeError when there is none (nothing may be scored)."""
    current = registry.champion(con, model_name)
    if current is None:
        raise RuntimeError(f"{model_name} has no champion: nothing can be scored")
    return current


def score_table_asset(*, table: str, champion: str, reads: str, kinds: set[str], description: str):
    """The decorator of a model's score table: group `scoring`, the DuckDB pool, the champion and the
    feature table it reads, scores that follow new data and a new champion, the freshness the UI
    shows, and the table's column schema from its DDL."""
    return asset(
        group_name="scoring",
        kinds=kinds,
        owners=ML_TEAM,
        pool=DUCKDB_POOL,
        deps=[champion, reads],
        automation_condition=scores_follow_new_data(champion),
        freshness_policy=SCORE_FRESHNESS,
        description=description,
        metadata=schemas.table_metadata(table),
    )


@contextlib.contextmanager
def model_step(warehouse: Warehouse, window: ModelingWindow, model_threads: ModelThreads):
    """What every model and score asset starts with: the run's model threads, a warehouse
    connection with the registry's tables (old model names migrated), and the cut-off;
    yields (connection, as_of)."""
    model_threads.apply()
    with warehouse.connection() as con:
        registry.ensure_registry_schema(con)
        yield con, window.resolve_as_of(con)
