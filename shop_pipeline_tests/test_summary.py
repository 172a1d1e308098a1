"""The run summary: what a user reads, not the bookkeeping beside it."""

import pandas as pd

from shop_pipeline.summary import format_summary, read_tables


def _summary(tables):
    files = pd.DataFrame(
        {"status": ["ingested"], "files": [1], "rows_read": [10], "clean": [10], "quarantined": [0], "duplicates": [0]}
    )
    return {
        "by_status": files,
        "clean_rows": 10,
        "days": 1,
        "first": "2025-01-01",
        "last": "2025-01-01",
        "reasons": [],
        "failed": [],
        "tables": tables,
        "models": [],
        "snapshot": None,
    }


def test_the_tables_line_lists_feature_and_score_tables_not_bookkeeping():
    tables = [
        ("features", "built_partitions", 180),
        ("features", "customer_features", 4727),
        ("features", "table_audits", 4),
        ("features", "table_builds", 2),
        ("features", "table_inputs", 4),
        ("ml", "model_registry", 4),
        ("scoring", "customer_scores", 4727),
        ("scoring", "score_builds", 4),
    ]
    [line] = [line for line in format_summary(_summary(tables), [], 1.0).splitlines() if line.startswith("tables:")]
    assert line == "tables:       features.customer_features (4,727), scoring.customer_scores (4,727)"


def test_the_tables_a_user_reads_are_every_models_score_table_and_the_feature_tables():
    assert {
        "scoring.demand_forecasts",
        "scoring.customer_scores",
        "scoring.recommendations",
        "scoring.order_risk_scores",
        "features.product_daily_sales",
        "features.customer_features",
        "features.interactions",
        "features.order_features",
    } == read_tables()
