"""A snapshot of the definition graph, so that it cannot drift unnoticed."""

from pathlib import Path

from dagster import AssetKey

from shop_pipeline.definitions import defs
from shop_pipeline.sql import ddl

EXPECTED_ASSETS = {
    "raw_products": "ingestion",
    "raw_marketing": "ingestion",
    "raw_events": "ingestion",
    "clean_events": "staging",
    "quarantined_events": "staging",
    "product_daily_sales": "features",
    "customer_features": "features",
    "propensity_model": "training",
    "propensity_champion": "evaluation",
    "customer_scores": "scoring",
    "demand_forecast_model": "training",
    "demand_forecast_champion": "evaluation",
    "demand_forecasts": "scoring",
    "order_labels": "ingestion",
    "order_features": "features",
    "order_risk_model": "training",
    "order_risk_champion": "evaluation",
    "order_risk_scores": "scoring",
    "interactions": "features",
    "recommendation_model": "training",
    "recommendation_champion": "evaluation",
    "recommendations": "scoring",
    "serving_snapshot": "scoring",
    "online_predictions": "monitoring",
    "feature_drift": "monitoring",
    "expired_events": "privacy",
}
EXPECTED_CHECKS = {
    ("raw_events", "raw_events_suite", True),
    ("raw_events", "landed_files_readable", False),
    ("clean_events", "conservation", True),
    ("clean_events", "staging_events_suite", True),
    ("product_daily_sales", "product_daily_sales_suite", True),
    ("customer_features", "customer_features_suite", True),
    ("propensity_champion", "promotion_gate", True),
    ("demand_forecast_champion", "promotion_gate", True),
    ("order_features", "order_features_suite", True),
    ("order_risk_champion", "promotion_gate", True),
    ("interactions", "interactions_suite", True),
    ("recommendation_champion", "promotion_gate", True),
}


def test_assets_groups_and_checks():
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == set(EXPECTED_ASSETS)
    for name, group in EXPECTED_ASSETS.items():
        node = graph.get(AssetKey(name))
        assert node.group_name == group
        assert node.description, name
        assert node.owners, name
        assert node.kinds, name
    checks = {
        (spec.asset_key.to_user_string(), spec.name, spec.blocking)
        for assets_def in graph.assets_defs
        for spec in assets_def.check_specs
    }
    assert checks == EXPECTED_CHECKS


# the warehouse tables each asset writes (dagster/table_name); their column schemas come from
# the tables' DDL files (defs/schemas.py), and test_models_end_to_end compares them with the
# tables a run creates
TABLE_ASSETS = {
    "raw_products": ("raw.products",),
    "raw_marketing": ("raw.ad_spend", "raw.promotions"),
    "raw_events": ("raw.events",),
    "clean_events": ("staging.events",),
    "quarantined_events": ("staging.quarantined_events",),
    "product_daily_sales": ("features.product_daily_sales",),
    "customer_features": ("features.customer_features",),
    "order_features": ("features.order_features",),
    "interactions": ("features.interactions",),
    "order_labels": ("raw.order_labels",),
    "customer_scores": ("scoring.customer_scores",),
    "demand_forecasts": ("scoring.demand_forecasts",),
    "order_risk_scores": ("scoring.order_risk_scores",),
    "recommendations": ("scoring.recommendations",),
    "online_predictions": ("monitoring.online_predictions",),
}


def test_every_table_asset_declares_its_table_and_typed_schema_and_shares_the_duckdb_pool():
    graph = defs.resolve_asset_graph()
    declared = {
        key.to_user_string(): graph.get(key).metadata
        for key in graph.get_all_asset_keys()
        if "dagster/table_name" in graph.get(key).metadata
    }
    assert {name: tuple(m["dagster/table_name"].split(", ")) for name, m in declared.items()} == TABLE_ASSETS
    for name, tables in TABLE_ASSETS.items():
        shown = [
            (c.name, c.type, c.constraints.nullable, c.description)
            for c in declared[name]["dagster/column_schema"].columns
        ]
        expected = [
            (f"{t}.{c.name}" if len(tables) > 1 else c.name, c.type, c.nullable, c.description)
            for t in tables
            for c in ddl.columns(t)
        ]
        assert shown == expected, name
        assert all(type_ and description for _, type_, _, description in shown), name
    for assets_def in graph.assets_defs:
        assert assets_def.node_def.pool == "duckdb"


def test_jobs():
    assert defs.resolve_job_def("full_pipeline").partitions_def is not None
    # the retention purge runs on its own, never inside a pipeline run
    assert AssetKey("expired_events") not in defs.resolve_job_def("full_pipeline").asset_layer.executable_asset_keys


def test_automation():
    repository = defs.get_repository_def()
    assert {job.name for job in repository.get_all_jobs()} == {
        "__ASSET_JOB",
        "full_pipeline",
        "ingest_events",
        "retrain_models",
        "purge_expired_events",
    }
    # the ingest job takes its partitions from its assets; retraining is unpartitioned
    assert defs.resolve_job_def("ingest_events").partitions_def is not None
    assert defs.resolve_job_def("retrain_models").partitions_def is None
    assert {(s.name, s.job_name) for s in repository.schedule_defs} == {
        ("daily_partition_schedule", "ingest_events"),
        ("retention_schedule", "purge_expired_events"),
    }
    assert {s.name: s.job_name if s.has_jobs else None for s in repository.sensor_defs} == {
        "landing_sensor": "ingest_events",
        "retrain_sensor": "retrain_models",
        "alert_on_run_failure": None,
        "follow_new_data": None,
    }
    # features, drift and scores follow new data through their automation conditions; nothing that trains does
    graph = defs.resolve_asset_graph()
    conditioned = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).automation_condition}
    assert {graph.get(AssetKey(name)).group_name for name in conditioned} == {"features", "monitoring", "scoring"}


def test_every_asset_links_to_the_function_that_computes_it():
    """The UI's "view source" opens the asset's own function, not a decorator's wrapper."""
    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        [reference] = graph.get(key).metadata["dagster/code_references"].code_references
        source = Path(reference.file_path)
        assert source.parent.name == "defs" and source.name != "skips.py", (key, source)
        function_line = source.read_text().splitlines()[reference.line_number - 1]
        assert function_line.lstrip().startswith(("@", "def ")), (key, function_line)
    # a model's assets come from its ModelSpec: their source is the factory's function
    propensity = graph.get(AssetKey("propensity_model")).metadata["dagster/code_references"].code_references[0]
    lines = Path(propensity.file_path).read_text().splitlines()
    assert Path(propensity.file_path).name == "models_common.py"
    assert lines[propensity.line_number - 1].lstrip().startswith("def compute(")
    assert any(line.startswith("def training_asset(") for line in lines[: propensity.line_number])
