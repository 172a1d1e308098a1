"""A small generated shop in a DuckDB warehouse (ingested, staged, features built) for the cluster tests,
and its tables copied onto a lake."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shop_pipeline.engine import lake
from shop_pipeline.features.order_features import build_order_features
from shop_pipeline.features.tables import build_customer_features
from shop_pipeline.ml.common import registry
from shop_pipeline.sources.landing import discover
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.order_labels import load_order_labels
from shop_pipeline_tests.warehouse.helpers import run_days

# small enough for a loaded 2-core machine, with repeat buyers for BG/NBD and Gamma-Gamma (and the
# generator's planted defects: quarantined lines, duplicates, late events)
CONFIG = GeneratorConfig(events=15_000, days=45, seed=5, fraud_rate=0.03)


@dataclass(frozen=True)
class SmallShop:
    home: Path
    warehouse: Path
    as_of: dt.date
    days: list[dt.date]


def build_shop(home: Path, config: GeneratorConfig = CONFIG) -> SmallShop:
    generate_shop(home, config)
    warehouse = home / "warehouse.duckdb"
    with connect(warehouse) as con:
        days = sorted({f.day for f in discover(home / "landing")})
        run_days(con, home / "landing", days, now=dt.datetime(2030, 1, 1))
        load_order_labels(con, home / "landing" / "labels")
        as_of = days[-1]
        build_customer_features(con, as_of)
        build_order_features(con, as_of)
    return SmallShop(home, warehouse, as_of, days)


def copy_to_lake(con, lake_uri: str, tables: list[str]) -> None:
    """Copy warehouse tables onto the lake with the lake's own write path."""
    for table in tables:
        lake.write_partitions_from_duckdb(con, f"SELECT * FROM {table}", lake.lake_table(lake_uri, table))


HORIZON_DAYS = 14


def register_models(shop: SmallShop, models_dir: Path) -> dict[str, registry.RegistryRow]:
    """Fit propensity (logistic RFM, BG/NBD expected orders, Gamma-Gamma spend) and order risk (the
    isolation forest) on the shop, save them with skops and register them as champions."""
    from shop_pipeline.features.order_features import order_features_frame
    from shop_pipeline.features.tables import customer_features_frame, customer_labels_frame
    from shop_pipeline.ml.order_risk import train as risk_train
    from shop_pipeline.ml.order_risk.candidates import ISOLATION_FOREST
    from shop_pipeline.ml.order_risk.data import plan_windows
    from shop_pipeline.ml.propensity import train as propensity_train
    from shop_pipeline.ml.propensity.candidates import BASELINE, BGNBD

    rows = {}
    with connect(shop.warehouse) as con:
        registry.ensure_registry_schema(con)
        cutoff = shop.as_of - dt.timedelta(days=HORIZON_DAYS)
        labels = customer_labels_frame(con, cutoff, HORIZON_DAYS, known_by=shop.as_of)
        propensity = propensity_train.fit_final(
            customer_features_frame(con, cutoff),
            labels,
            BASELINE,
            HORIZON_DAYS,
            value_candidate=BGNBD,
            history=customer_features_frame(con, shop.as_of),
        )
        orders = order_features_frame(con, shop.as_of)
        risk = risk_train.fit_final(
            orders, np.full(len(orders), np.nan), ISOLATION_FOREST, plan_windows(shop.as_of, 7, 20)
        )
        for name, fitted in {"propensity": propensity, "order_risk": risk}.items():
            version = f"20300101T000000-{name[:8]}"
            _save_and_register(con, models_dir, name, version, fitted, list(fitted.columns), fitted.candidate, shop)
            rows[name] = registry.promote(con, name, version)
    return rows


def register_grouped_models(shop: SmallShop, models_dir: Path) -> dict[str, registry.RegistryRow]:
    """Build the shop's product_daily_sales and interactions, fit the demand forecast (its challenger and
    the statistical family, on a small budget) and three recommenders (item-kNN, EASE, category popularity), save them with skops
    and register them (keys: demand_forecast, item_knn, ease, category_popularity)."""
    from shop_pipeline.features.interactions import build_interactions
    from shop_pipeline.features.tables import build_product_daily_sales, read_product_daily_sales
    from shop_pipeline.ml.demand_forecast.candidates import ForecastConfig
    from shop_pipeline.ml.demand_forecast.fitting import fit_forecaster
    from shop_pipeline.ml.recommendation.candidates import CATEGORY_POPULARITY, EASE, ITEM_KNN, fit_candidate
    from shop_pipeline.ml.recommendation.data import load_interactions

    rows = {}
    with connect(shop.warehouse) as con:
        registry.ensure_registry_schema(con)
        build_product_daily_sales(con, shop.as_of)
        build_interactions(con, shop.as_of)
        history = read_product_daily_sales(con, shop.as_of, dt.date.min)
        forecaster = fit_forecaster(
            history, shop.as_of, HORIZON_DAYS, seed=0, config=ForecastConfig(max_iter=40, max_train_rows=20_000)
        )
        matrix = load_interactions(con)
        fitted = {
            "demand_forecast": (forecaster, "challenger", ["product_id"]),
            ITEM_KNN: (fit_candidate(ITEM_KNN, matrix, seed=0), ITEM_KNN, []),
            EASE: (fit_candidate(EASE, matrix, seed=0), EASE, []),
            CATEGORY_POPULARITY: (fit_candidate(CATEGORY_POPULARITY, matrix, seed=0), CATEGORY_POPULARITY, []),
        }
        for key, (model, candidate, features) in fitted.items():
            name = "demand_forecast" if key == "demand_forecast" else "recommendation"
            version = f"20300101T000000-{key}"
            _save_and_register(con, models_dir, name, version, model, features, candidate, shop)
            rows[key] = registry.get_version(con, name, version)
    return rows


def _save_and_register(con, models_dir: Path, name: str, version: str, model, features, candidate: str, shop) -> None:
    """Save `model`'s artifact with skops and register it as `version` of `name`, serving `candidate`."""
    path, sha = registry.save_model(model.to_artifact(), models_dir, name, version)
    registry.register(
        con,
        model_name=name,
        version=version,
        artifact_path=path,
        models_dir=models_dir,
        sha256=sha,
        features=features,
        parameters={"serving_candidate": candidate},
        as_of=shop.as_of,
    )
