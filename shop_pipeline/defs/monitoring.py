"""Stage `monitoring`: drift of the key features and of the score distribution, and the facts
the retraining sensor decides on (so that the sensor never opens the DuckDB file)."""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from shop_pipeline.automation_rules import ModelFacts, MonitoringFacts
from shop_pipeline.defs.common import ML_TEAM, asset_pool, follows_new_data
from shop_pipeline.ml import drift
from shop_pipeline.ml.common import psi, registry
from shop_pipeline.ml.common.lifecycle import inputs_key
from shop_pipeline.ml.models import MODELS
from shop_pipeline.resources import Engine, ShopHome, Warehouse
from shop_pipeline.spark_mode.monitoring import monitoring_session

# the assets whose update re-measures drift: the models' drift upstream (their feature tables) and champions
DRIFT_UPSTREAM = tuple(name for spec in MODELS for name in spec.drift_upstream)
DRIFT_CHAMPIONS = tuple(spec.champion_asset for spec in MODELS if spec.drift_upstream)
FACTS_KEY = "facts"  # the metadata entry the retraining sensor reads
MAX_PSI_KEY = "max_psi"
MEASUREMENT_KEY = "measurement"  # the drift measured, kept for a run whose inputs are unchanged
INPUTS_KEY = "inputs_key"

# What the drift is measured from, besides the champions and the configuration
DRIFT_INPUTS = {
    table: ""
    for table in (
        *sorted(
            {table for spec in MODELS if spec.drift for table in spec.scoring_inputs if table.startswith("features.")}
        ),
        "ml.drift_references",
    )
}
_CHAMPIONS = """
SELECT model_name, version, train_start, train_end, as_of FROM ml.model_registry WHERE is_champion ORDER BY model_name
"""


def drift_inputs_key(con, config: "DriftConfig", fingerprints: dict[str, str] | None = None) -> str:
    """The key of what a measurement reads: the feature tables, the references, the champions, the
    configuration and the model code. Equal keys measure equal drift. `fingerprints`: of the tables
    read as lake views (Spark mode), by their published files."""
    key, _ = inputs_key(
        con,
        tables=DRIFT_INPUTS,
        settings={
            "window_days": config.window_days,
            "bins": config.bins,
            "champions": con.execute(_CHAMPIONS).fetchall(),
        },
        as_of=None,
        code=("ml", "features", "sql"),
        fingerprints=fingerprints,
    )
    return key


def _last_measurement(context: AssetExecutionContext, key: str) -> drift.DriftMeasurement | None:
    """The measurement of feature_drift's last materialization, when it was made from `key`."""
    event = context.instance.get_latest_materialization_event(AssetKey("feature_drift"))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if INPUTS_KEY not in metadata or MEASUREMENT_KEY not in metadata or metadata[INPUTS_KEY].value != key:
        return None
    return drift.DriftMeasurement.from_json(metadata[MEASUREMENT_KEY].value)


_REGISTRY_ROWS = """
SELECT model_name, version, train_end, is_champion, promoted_at, coalesce(as_of, train_end) AS seen_until
FROM ml.model_registry
ORDER BY model_name, trained_at, version
"""
_EVENTS_AFTER = "SELECT count(*) FROM staging.events WHERE $after IS NULL OR partition_date > $after"


class DriftConfig(Config):
    window_days: int = 7  # the current sample: the latest days of product-day features
    bins: int = psi.DEFAULT_BINS  # quantile bins of the reference


def model_facts(con) -> tuple[dt.date | None, list[ModelFacts]]:
    """The last landed day and, per registered model, its champion and newest training attempt."""
    latest_day = con.execute("SELECT max(partition_date) FROM staging.events").fetchone()[0]
    by_model: dict[str, list[tuple]] = {}
    for row in con.execute(_REGISTRY_ROWS).fetchall():
        by_model.setdefault(row[0], []).append(row)
    facts = []
    for name, rows in by_model.items():
        champion = next((r for r in rows if r[3]), None)
        newest = rows[-1]
        [(new_events,)] = con.execute(_EVENTS_AFTER, {"after": newest[5]}).fetchall()
        facts.append(
            ModelFacts(
                model_name=name,
                champion_version=champion[1] if champion else None,
                champion_promoted_at=champion[4] if champion else None,
                champion_train_end=champion[2] if champion else None,
                latest_version=newest[1],
                latest_as_of=newest[5],
                new_clean_events=int(new_events),
            )
        )
    return latest_day, facts


@asset(
    group_name="monitoring",
    kinds={"duckdb", "pandas"},
    owners=ML_TEAM,
    pool=asset_pool("feature_drift"),
    deps=[*DRIFT_UPSTREAM, *DRIFT_CHAMPIONS],
    # measured without champions too: the retraining trigger reads it to train the first ones
    automation_condition=follows_new_data(optional=DRIFT_CHAMPIONS),
    description=(
        "Population stability index (PSI) of the key product-day and customer features and of the propensity "
        "score, the champions' training window against the latest days (bins at the reference's quantiles; "
        "above 0.25 is a major shift). Also records, per model, the champion, the newest training attempt and "
        "the clean events landed since: the retraining sensor decides from this metadata alone."
    ),
)
def feature_drift(
    context: AssetExecutionContext, config: DriftConfig, warehouse: Warehouse, shop: ShopHome, engine: Engine
) -> MaterializeResult:
    # the one dispatch point: the warehouse, or (Spark mode) the lake's tables and registry
    with monitoring_session(engine, warehouse, shop.paths) as session:
        con, fingerprints = session.con, session.fingerprints
        # unchanged features, references and champions measure the same drift: the last measurement
        # stands (and no champion is loaded)
        key = drift_inputs_key(con, config, fingerprints)
        kept = _last_measurement(context, key)
        measurement = kept or drift.measure_drift(con, config.window_days, config.bins, models_dir=session.models_dir)
        if kept is None:  # measuring may have written the champions' references: the key of what it read
            key = drift_inputs_key(con, config, fingerprints)
        latest_day, models = model_facts(con)
    facts = MonitoringFacts(registry.utc_now(), latest_day, models, measurement.measured)
    for note in measurement.notes:
        context.log.info(note)
    metadata = {
        "drift": MetadataValue.md(psi.drift_markdown(measurement.rows)),
        "reference_window": measurement.reference_window or "n/a",
        "current_window": measurement.current_window or "n/a",
        "notes": MetadataValue.md("\n".join(f"- {n}" for n in measurement.notes) or "_none_"),
        FACTS_KEY: MetadataValue.json(facts.to_json()),
        MEASUREMENT_KEY: MetadataValue.json(measurement.to_json()),
        INPUTS_KEY: key,
        "reused": kept is not None,
    }
    for name, value in measurement.measured.items():
        metadata["psi_" + name.replace(".", "_")] = float(value)
    if measurement.measured:
        metadata[MAX_PSI_KEY] = float(max(measurement.measured.values()))
    return MaterializeResult(metadata=metadata)
