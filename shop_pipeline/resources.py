"""Dagster resources: the DuckDB warehouse, the shop's folders, the quality thresholds."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, Optional

import duckdb
from dagster import ConfigurableResource, EnvVar

from shop_pipeline.alerts import WEBHOOK_ENV
from shop_pipeline.quality.thresholds import load_thresholds
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect


class ShopHome(ConfigurableResource):
    """The shop's state folder ($SHOP_PIPELINE_HOME): landing files, warehouse, models, reports."""

    home: str

    @property
    def paths(self) -> ShopPaths:
        return ShopPaths.at(self.home)


class Quality(ConfigurableResource):
    """Thresholds of the ingestion rules and expectation suites (quality/thresholds.yaml)."""

    thresholds_path: Optional[str] = None

    def thresholds(self) -> dict[str, Any]:
        return load_thresholds(self.thresholds_path)


class Warehouse(ConfigurableResource):
    """The DuckDB warehouse file. DuckDB has one writer per file: writers share the `duckdb`
    pool (limit 1) instead of retrying on the lock; every connection is opened the same way
    (UTC session, tables created) so that one process never holds two configurations."""

    path: str

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.path) as con:
            yield con


class Alerting(ConfigurableResource):
    """Where failed runs are announced: a webhook receiving each failure as a JSON POST
    ($SHOP_PIPELINE_ALERT_WEBHOOK; off when unset). Slack and Teams: see defs/automation.py."""

    webhook_url: Optional[str] = None


def alerting_from_environment() -> Alerting:
    """The webhook read from its variable when it is run (the UI shows the variable, never its
    value, which carries a token); an unset variable leaves the webhook off."""
    if os.environ.get(WEBHOOK_ENV, "").strip():
        return Alerting(webhook_url=EnvVar(WEBHOOK_ENV))
    return Alerting()


def default_resources(paths: ShopPaths | None = None) -> dict[str, Any]:
    paths = paths or ShopPaths.from_env()
    return {
        "warehouse": Warehouse(path=str(paths.warehouse)),
        "shop": ShopHome(home=str(paths.home)),
        "quality": Quality(),
        "window": ModelingWindow(),
        "alerting": alerting_from_environment(),
    }


class ModelingWindow(ConfigurableResource):
    """The cut-off and horizons of a run (run configuration; `shop-pipeline run --as-of ...`).

    as_of: last day whose events features and models may use (YYYY-MM-DD); empty means the
    last complete day landed. Nothing after it influences a feature, a model or a score.
    """

    as_of: Optional[str] = None
    forecast_horizon_days: int = 14
    propensity_horizon_days: int = 30
    seed: int = 42
    # Who gets recommendations: customers with an interaction in this many days before the
    # cut-off; None (the default) scores every customer with any interaction before it, so
    # lapsed customers get lists too (win-back mail).
    recommendation_recency_days: Optional[int] = None
    # A challenger must beat every baseline and the champion by this relative margin.
    min_improvement: float = 0.01

    def resolve_as_of(self, con: duckdb.DuckDBPyConnection):
        import datetime as dt

        from shop_pipeline.features.tables import default_as_of

        if self.as_of:
            return dt.date.fromisoformat(self.as_of)
        as_of = default_as_of(con)
        if as_of is None:
            raise ValueError("no clean events have landed yet: materialize clean_events first")
        return as_of
