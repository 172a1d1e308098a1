"""A serving snapshot in a second, without a pipeline run: a few rows written straight into the tables
the snapshot copies (scores, recommendations, staged events, the registry), then `publish_snapshot`.

The serving tests that need the whole generated shop (conftest.py's `shop`, ~20 s and a server) check
that the snapshot equals the batch tables for every customer; the tests on this tiny warehouse check
the snapshot, store and app code itself, fast enough that a mutation run can afford them per mutant.
The rows are chosen so each answer is known by hand (see the constants below).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import connect

AS_OF = dt.date(2031, 3, 31)
SCORES_VERSION = "propensity-v1"
RECS_VERSION = "recommendation-v2"
# customer -> (p_purchase, churn_risk, expected_orders, expected_spend, segment)
SCORES = {
    "alice": (0.75, 0.25, 2.5, 120.0, "champions"),
    "bob": (0.5, 0.5, 1.0, 40.0, "loyal"),
    "carol": (0.125, 0.875, 0.25, 5.0, "at_risk"),  # scored, but no published list
}
# customer -> [(product, score, reason)] in rank order
RECOMMENDATIONS = {
    "alice": [("p-10", 0.9, "similar_items"), ("p-11", 0.8, "similar_items"), ("p-12", 0.7, "popular_in_category")],
    "bob": [("p-20", 0.6, "similar_items"), ("p-21", 0.5, "popular")],
}
# purchases: (days before AS_OF, buyer, product). In the 30-day window: p-2 has three buyers (one of
# whom bought twice), p-1 and p-3 two each (a tie, broken by product id), p-4 one. p-old was bought
# by four customers, all before the window; p-late after AS_OF (not yet known at the cut-off).
PURCHASES = [
    (0, "u1", "p-2"),
    (1, "u2", "p-2"),
    (2, "u3", "p-2"),
    (3, "u3", "p-2"),
    (29, "u4", "p-3"),
    (5, "u5", "p-3"),
    (6, "u6", "p-1"),
    (7, "u7", "p-1"),
    (8, "u8", "p-4"),
    (30, "u1", "p-old"),
    (31, "u2", "p-old"),
    (40, "u3", "p-old"),
    (50, "u4", "p-old"),
    (-1, "u9", "p-late"),
]
POPULAR_IN_WINDOW = ["p-2", "p-1", "p-3", "p-4"]
VIEWS = [(0, "u1", "p-view-only")]  # views are not purchases: never popular
CHAMPIONS = {  # model -> (version, validated: has an evaluation with a value)
    "propensity": (SCORES_VERSION, True),
    "recommendation": (RECS_VERSION, False),
}


@dataclass(frozen=True)
class TinyShop:
    warehouse: Path
    models: Path
    serving: Path  # <home>/serving, what the API serves


def tiny_shop(home: Path) -> TinyShop:
    """The warehouse of a tiny shop under `home` (no snapshot published yet)."""
    shop = TinyShop(warehouse=home / "warehouse.duckdb", models=home / "models", serving=home / "serving")
    shop.models.mkdir(parents=True, exist_ok=True)
    with connect(shop.warehouse) as con:
        ddl.create(
            con, "scoring.customer_scores", "scoring.recommendations", "ml.model_registry", "ml.model_evaluations"
        )
        con.executemany(
            "INSERT INTO scoring.customer_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[customer, *values, SCORES_VERSION, AS_OF] for customer, values in SCORES.items()],
        )
        con.executemany(
            "INSERT INTO scoring.recommendations VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                [customer, rank, product, score, reason, RECS_VERSION, AS_OF]
                for customer, items in RECOMMENDATIONS.items()
                for rank, (product, score, reason) in enumerate(items, 1)
            ],
        )
        add_events(con, [(days, user, product, "purchase") for days, user, product in PURCHASES])
        add_events(con, [(days, user, product, "view") for days, user, product in VIEWS])
        for model, (version, validated) in CHAMPIONS.items():
            register(con, model, version, champion=True, validated=validated)
        register(con, "propensity", "propensity-v0", champion=False, validated=True)  # a former champion
        register(con, "retired_model", "r-1", champion=True, validated=True)  # no longer a model of the code
    return shop


def add_events(con, events: list[tuple[int, str, str, str]]) -> None:
    """(days before AS_OF, user, product, event type) as staged events."""
    start = con.execute("SELECT count(*) FROM staging.events").fetchone()[0]
    con.executemany(
        "INSERT INTO staging.events (partition_date, event_id, event_time, event_type, user_id, product_id, price, "
        "quantity, order_id, is_late, source_file, line, ingested_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 10.0, 1, ?, false, 'events.csv', ?, TIMESTAMP '2031-04-02 00:00:00')",
        [
            [
                AS_OF - dt.timedelta(days=days),
                f"e{start + n}",
                dt.datetime.combine(AS_OF - dt.timedelta(days=days), dt.time(12)),
                event_type,
                user,
                product,
                f"o{start + n}" if event_type == "purchase" else None,
                start + n + 1,
            ]
            for n, (days, user, product, event_type) in enumerate(events)
        ],
    )


def register(con, model: str, version: str, champion: bool, validated: bool) -> None:
    con.execute(
        "INSERT INTO ml.model_registry (model_name, version, trained_at, train_start, train_end, as_of, features, "
        "parameters, artifact_path, sha256, is_champion, promoted_at) VALUES ($model, $version, "
        "TIMESTAMP '2031-04-01 08:00:00', DATE '2031-01-01', $as_of, $as_of, '[]', '{}', $path, 'no-artifact', "
        "$champion, CASE WHEN $champion THEN TIMESTAMP '2031-04-01 09:00:00' END)",
        {"model": model, "version": version, "as_of": AS_OF, "path": f"{model}/{version}.skops", "champion": champion},
    )
    con.execute(
        "INSERT INTO ml.model_evaluations VALUES ($model, $version, 'model', 'metric', $value, NULL, NULL, "
        "TIMESTAMP '2031-04-01 08:30:00')",
        {"model": model, "version": version, "value": 0.5 if validated else None},
    )
