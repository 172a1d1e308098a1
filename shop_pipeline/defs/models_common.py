"""The three assets of every model, made from its ModelSpec (ml/common/spec.py): `training_asset`,
`promotion_gate_asset` and `score_table_asset` (defs/models.py makes them for every model of
ml/models.py's MODELS). They are thin: each calls one function of the model code and shows what it
returned. Each wears `skips_when_data_is_short` (defs/skips.py) under its `@asset`, so a shop too
short for the model skips it with a one-line reason instead of failing the run."""

import contextlib
from collections.abc import Callable

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from shop_pipeline.defs import schemas
from shop_pipeline.defs.common import ML_TEAM, SCORE_FRESHNESS, asset_pool, scores_follow_new_data
from shop_pipeline.defs.skips import skips_when_data_is_short  # the stages import it from here too
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import write_html_report
from shop_pipeline.ml.common.lifecycle import (
    SERVING_PARAMETER,
    TrainingInputs,
    gate_and_promote,
    inputs_key,
    reuse_version,
    train_and_register,
    training_inputs,
)
from shop_pipeline.ml.common.spec import ModelSpec, Shown
from shop_pipeline.resources import Engine, Modeling, ModelThreads, ShopHome, Warehouse
from shop_pipeline.spark_mode.models import TrainingSession, lake_as_of, registry_session, training_session
from shop_pipeline.spark_mode.scoring import score_on_lake
from shop_pipeline.warehouse.scores import replace_scores, unchanged_scores

PROMOTION_GATE_CHECK = "promotion_gate"
REUSED_KEY = "reused_version"
SCORES_REWRITTEN = "scores_rewritten"  # False: champion and inputs unchanged, the table was kept


def latest_metadata(context, asset_name: str) -> dict:
    """Key -> value of what the upstream training asset's latest materialization recorded."""
    event = context.instance.get_latest_materialization_event(AssetKey(asset_name))
    if event is None or event.asset_materialization is None:
        raise RuntimeError(f"{asset_name} has not been materialized: train it first")
    return {key: entry.value for key, entry in event.asset_materialization.metadata.items()}


def upstream_metadata(context, asset_name: str, key: str):
    """One value the upstream training asset's latest materialization recorded (None when absent)."""
    return latest_metadata(context, asset_name).get(key)


def shown_metadata(shown: Shown) -> dict:
    """What the model code says an asset shows, as Dagster metadata."""
    return {
        **shown.values,
        **{key: MetadataValue.md(text) for key, text in shown.markdown.items()},
        **{key: MetadataValue.json(value) for key, value in shown.json.items()},
    }


def float_metrics(values: dict[str, float], names) -> dict[str, float]:
    """The named metrics that have a value (not None, not NaN), as floats the UI can chart."""
    return {
        name: float(values[name]) for name in names if values.get(name) is not None and values[name] == values[name]
    }


@contextlib.contextmanager
def model_step(warehouse: Warehouse, modeling: Modeling, model_threads: ModelThreads):
    """What every model and score asset starts with: the run's model threads, a warehouse
    connection with the registry's tables (old model names migrated), and the cut-off;
    yields (connection, as_of)."""
    model_threads.apply()
    with warehouse.connection() as con:
        registry.ensure_registry_schema(con)
        yield con, modeling.resolve_as_of(con)


def _named(compute: Callable, name: str) -> Callable:
    """`compute` under the asset's name (the step's name in a NotEnoughData line and in tracebacks)."""
    compute.__name__ = compute.__qualname__ = name
    return compute


# ---------------------------------------------------------------------------- training


def prepare_training(context, session: TrainingSession, spec: ModelSpec, modeling: Modeling) -> TrainingInputs:
    """The training key of this run (what the session's training reads, the settings, the sample) and
    the registered version it may reuse (ml/common/lifecycle.py; its artifact in the session's models
    folder); logged."""
    training = training_inputs(
        session.registry,
        spec.name,
        tables=dict(spec.training_inputs),
        settings={**spec.training_settings(modeling), **session.settings()},
        as_of=session.as_of,
        models_dir=session.models_dir,
        data=session.data,
        fingerprints=session.fingerprints,
    )
    context.log.info(f"{spec.name}: {training.reason}")
    if session.sample.bounded:
        context.log.info(f"{spec.name}: trained on a sample: {session.sample.describe()}")
    return training


def training_metadata(training: TrainingInputs) -> dict:
    """What every training materialization says about reuse."""
    return {REUSED_KEY: training.reusable is not None, "reason": training.reason, "training_key": training.key[:16]}


def reused_result(con, spec: ModelSpec, training: TrainingInputs, *, reports, as_of) -> MaterializeResult:
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
        **float_metrics(recorded.get(serving, {}), spec.reported_metrics),
        **(spec.reused_shown(row) if spec.reused_shown else {}),
    }
    if report.is_file():
        metadata["report"] = MetadataValue.path(str(report))
    return MaterializeResult(metadata=metadata)


def training_asset(spec: ModelSpec) -> AssetsDefinition:
    """`<model>_model` (group training): reuse the registered version when the training inputs are
    unchanged, else train, compare with the champion and register (lifecycle.train_and_register), and
    write the report."""

    def compute(
        context: AssetExecutionContext,
        warehouse: Warehouse,
        modeling: Modeling,
        shop: ShopHome,
        model_threads: ModelThreads,
        engine: Engine,
    ):
        model_threads.apply()
        # the one dispatch point: the registry and the training rows are the warehouse's or the lake's
        with training_session(engine, warehouse, spec, modeling, shop.paths) as session:
            as_of = session.as_of
            training = prepare_training(context, session, spec, modeling)
            if training.reusable is not None:
                return reused_result(session.registry, spec, training, reports=shop.paths.reports, as_of=as_of)
            registered = train_and_register(
                session.registry,
                spec,
                as_of,
                modeling,
                training=training,
                models_dir=session.models_dir,
                data=session.data,
            )
        run, champion, trained = registered.run, registered.champion, registered.trained
        if run.warning:
            context.log.warning(run.warning)
        report = spec.report(run, trained, as_of, modeling)
        path = shop.paths.reports / f"{spec.name}-{trained.version}.html"
        write_html_report(path, report.title, report.sections)
        return MaterializeResult(
            metadata={
                "model_version": trained.version,
                "serving_candidate": run.serving_candidate,
                **({"mode": run.mode} if run.mode is not None else {}),
                "as_of": as_of.isoformat(),
                **training_metadata(training),
                "training_sample": session.sample.describe(),
                **({"champion_comparison": champion.note} if champion is not None else {}),
                **shown_metadata(report.shown),
                "report": MetadataValue.path(str(path)),
                **float_metrics(trained.metrics.get(run.serving_candidate, {}), spec.reported_metrics),
            }
        )

    return asset(
        name=spec.training_asset,
        group_name="training",
        kinds={spec.kind, "duckdb"},
        owners=ML_TEAM,
        pool=asset_pool(spec.training_asset),
        deps=list(spec.training_upstream),
        description=spec.training_description,
    )(skips_when_data_is_short(_named(compute, spec.training_asset)))


# ---------------------------------------------------------------------------- the gate


def gate_verdict(decision, champion_after, version: str) -> str:
    if decision.promote:
        return f"promoted {version}"
    if champion_after is not None and champion_after.version == version:
        return f"kept {version}: champion already, training inputs unchanged"
    if champion_after is not None:
        return f"refused {version}; champion {champion_after.version} stays"
    return f"refused {version}; there is no champion, so nothing can be scored"


def gate_check_result(
    decision, champion_after, version: str, severity: AssetCheckSeverity = AssetCheckSeverity.ERROR
) -> AssetCheckResult:
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


def run_promotion_gate(context, warehouse, modeling, spec: ModelSpec, engine: Engine | None = None):
    """The body of a `*_champion` asset: gate the version the training asset produced. spec.competing
    narrows spec.servable to the candidates that competed in that version (a version may measure fewer)."""
    trained = latest_metadata(context, spec.training_asset)
    version = trained.get("model_version")
    if version is None:
        raise RuntimeError(f"{spec.training_asset}'s latest materialization records no model_version")
    unmeasured = spec.unmeasured_mode is not None and trained.get("mode") == spec.unmeasured_mode
    with registry_session(engine, warehouse) as con:  # the warehouse's registry, or the lake's
        servable = list(spec.servable)
        if spec.competing is not None:
            servable = spec.competing(registry.get_version(con, spec.name, version))
        decision, champion_after = gate_and_promote(
            con,
            model_name=spec.name,
            version=version,
            servable=servable,
            references=list(spec.references),
            metric=spec.gate_metric,
            higher_is_better=spec.higher_is_better,
            min_improvement=modeling.min_improvement,
            reused=bool(trained.get(REUSED_KEY)),
        )
    yield gate_check_result(
        decision, champion_after, version, AssetCheckSeverity.WARN if unmeasured else AssetCheckSeverity.ERROR
    )
    yield MaterializeResult(
        metadata={
            "model_version": version,
            "decision": gate_verdict(decision, champion_after, version),
            "promoted": decision.promote,
            "champion_version": champion_after.version if champion_after else "none",
            "comparisons": MetadataValue.md(decision.table_markdown),
        }
    )


def promotion_gate_asset(spec: ModelSpec) -> AssetsDefinition:
    """`<model>_champion` (group evaluation) with its blocking `promotion_gate` check.

    A version whose training recorded mode spec.unmeasured_mode (nothing could measure it: a new shop,
    no labels) is refused with a warning instead of a block: scoring then serves it unvalidated
    (serving_version)."""
    better = "higher" if spec.higher_is_better else "lower"
    beaten = f" and beats {', '.join(spec.references)}," if spec.references else ""

    def compute(context: AssetExecutionContext, warehouse: Warehouse, modeling: Modeling, engine: Engine):
        yield from run_promotion_gate(context, warehouse, modeling, spec, engine)

    return asset(
        name=spec.champion_asset,
        group_name="evaluation",
        kinds={"duckdb"},
        owners=ML_TEAM,
        pool=asset_pool(spec.champion_asset),
        deps=[spec.training_asset],
        description=(
            f"The promotion gate of {spec.gate_description}: the version {spec.training_asset} registered becomes "
            f"champion only when its served candidate's {spec.gate_metric} ({better} is better) is at least every "
            f"other servable candidate's {'that competed in that version ' if spec.competing else ''}"
            f"({', '.join(spec.servable)}) on the held-out window{beaten} and beats the current champion's by the "
            "configured margin. The blocking check fails only when no champion exists, so scoring never runs "
            "without one."
        ),
        check_specs=[
            AssetCheckSpec(
                PROMOTION_GATE_CHECK,
                asset=spec.champion_asset,
                blocking=True,
                description="A champion that passed the gate exists after the decision.",
            )
        ],
    )(skips_when_data_is_short(_named(compute, spec.champion_asset)))


# ---------------------------------------------------------------------------- scoring


def scoring_key(con, current, *, tables: dict[str, str], as_of, settings: dict | None = None) -> str:
    """The inputs key of a score table computed by champion `current` (warehouse/scores.py):
    the same key, the same scores, so they are not computed and written again."""
    key, _ = inputs_key(
        con,
        tables=tables,
        as_of=as_of,
        settings={
            "model_name": current.model_name,
            "model_version": current.version,
            "sha256": current.sha256,
            **(settings or {}),
        },
    )
    return key


def serving_version(context: AssetExecutionContext, con, spec: ModelSpec):
    """(registry row, validated) of the version scoring uses: the champion, or when none was promoted
    because nothing could measure the latest training (mode spec.unmeasured_mode), that version.
    RuntimeError when there is neither: nothing may be scored."""
    current = registry.champion(con, spec.name)
    if current is not None:
        return current, True
    if spec.unmeasured_mode is not None:
        trained = latest_metadata(context, spec.training_asset)
        if trained.get("mode") == spec.unmeasured_mode:
            return registry.get_version(con, spec.name, trained["model_version"]), False
    raise RuntimeError(f"{spec.name} has no champion: nothing can be scored")


def score_table_asset(spec: ModelSpec) -> AssetsDefinition:
    """The model's score table (group scoring): the champion it reads and the feature table, scores
    that follow new data and a new champion, the freshness the UI shows, and the table's column schema
    from its DDL. Unchanged champion and inputs keep the table (their inputs key is recorded)."""

    def compute(
        context: AssetExecutionContext,
        warehouse: Warehouse,
        modeling: Modeling,
        shop: ShopHome,
        model_threads: ModelThreads,
        engine: Engine,
    ):
        # the one dispatch point: the warehouse (DuckDB) or the lake (Spark) holds the scores
        if engine.is_spark:
            return on_lake(context, warehouse, modeling, shop, model_threads, engine)
        return on_warehouse(context, warehouse, modeling, shop, model_threads)

    def on_lake(context, warehouse: Warehouse, modeling: Modeling, shop: ShopHome, model_threads, engine: Engine):
        model_threads.apply()
        lake = engine.settings().lake
        as_of = lake_as_of(lake, modeling)
        with registry_session(engine, warehouse) as con:  # the lake's registry: training registers there
            current, validated = serving_version(context, con, spec)
        models_dir = engine.models_location(shop.paths)
        written, scores = score_on_lake(engine.spark(), lake, spec, current, as_of, models_dir, modeling)
        return MaterializeResult(
            metadata={
                "dagster/row_count": written.rows,
                "model_version": current.version,
                "as_of": as_of.isoformat(),
                SCORES_REWRITTEN: True,
                "scored_on_executors": written.distributed,
                **shown_metadata(spec.describe_scores(scores, current, validated, modeling)),
            }
        )

    def on_warehouse(context, warehouse: Warehouse, modeling: Modeling, shop: ShopHome, model_threads: ModelThreads):
        with model_step(warehouse, modeling, model_threads) as (con, as_of):
            current, validated = serving_version(context, con, spec)
            key = scoring_key(
                con, current, tables=dict(spec.scoring_inputs), as_of=as_of, settings=spec.scoring_settings(modeling)
            )
            kept = unchanged_scores(con, spec.score_table, key)
            if kept is not None:  # the model and its inputs are unchanged: so are the scores
                columns = ", ".join(spec.kept_columns) if spec.kept_columns else "*"
                rows, scores = kept, con.execute(f"SELECT {columns} FROM {spec.score_table}").df()
            else:
                fitted = spec.load(con, current, shop.paths.models)
                scores = spec.score(con, fitted, current, as_of, modeling)
                rows = replace_scores(con, spec.score_table, scores, inputs_key=key)
        return MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "model_version": current.version,
                "as_of": as_of.isoformat(),
                SCORES_REWRITTEN: kept is None,
                **shown_metadata(spec.describe_scores(scores, current, validated, modeling)),
            }
        )

    return asset(
        name=spec.score_asset,
        group_name="scoring",
        kinds={"duckdb", spec.kind},
        owners=ML_TEAM,
        pool=asset_pool(spec.score_asset),
        deps=[spec.champion_asset, spec.scoring_upstream],
        automation_condition=scores_follow_new_data(spec.champion_asset),
        freshness_policy=SCORE_FRESHNESS,
        description=spec.scoring_description,
        metadata=schemas.table_metadata(spec.score_table),
    )(skips_when_data_is_short(_named(compute, spec.score_asset)))


def model_assets(spec: ModelSpec) -> list[AssetsDefinition]:
    """The training, gate and score assets of one model."""
    return [training_asset(spec), promotion_gate_asset(spec), score_table_asset(spec)]
