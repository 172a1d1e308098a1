"""The count-based models' inputs aggregated by Spark from the lake's staging.events equal the DuckDB
path's (the customer features), on every customer and on a bounded sample, and give the same fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.features.tables import customer_features_frame
from shop_pipeline.ml.common.sampling import Sample
from shop_pipeline.ml.propensity import counts
from shop_pipeline.ml.propensity.candidates import BGNBD, MBGNBD, fit_probabilistic, fit_spend_per_order
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.ml.cluster.shop import build_shop, copy_to_lake

# a shop of its own built and copied onto the lake (minutes under load): run with -m slow
pytestmark = pytest.mark.slow

HORIZON = 30


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    shop = build_shop(tmp_path_factory.mktemp("counts-shop"))
    lake_uri = (shop.home / "lake").as_uri()
    with connect(shop.warehouse) as con:
        copy_to_lake(con, lake_uri, ["staging.events"])
    return shop, lake_uri


@pytest.fixture(scope="module")
def events(spark, shop):
    _, lake_uri = shop
    table = lake.lake_table(lake_uri, "staging.events")
    return spark.read.parquet(lake.spark_uri(table.location)).drop("event_month")


def _duckdb(shop, sample=None, as_of=None):
    shop, _ = shop
    with connect(shop.warehouse) as con:
        return counts.duckdb_counts(con, as_of or shop.as_of, sample)


def assert_same_counts(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()
    assert (got["frequency"].to_numpy() == expected["frequency"].to_numpy()).all()
    assert (got["monetary"].to_numpy() == expected["monetary"].to_numpy()).all()  # money: exact
    for column in ("recency_days", "tenure_days", "avg_order_value"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-9, atol=0, err_msg=column)


def test_spark_counts_equal_the_customer_features(shop, events):
    expected = _duckdb(shop)
    got = counts.collect_counts(counts.spark_counts(events, shop[0].as_of))
    assert len(got) == len(expected) > 300
    assert (expected["frequency"] >= 2).sum() >= 50  # repeat buyers: what BG/NBD and Gamma-Gamma learn from
    assert_same_counts(got, expected)


def test_an_earlier_cut_off_counts_only_what_had_landed(shop, events):
    as_of = shop[0].days[20]
    got = counts.collect_counts(counts.spark_counts(events, as_of))
    assert_same_counts(got, _duckdb(shop, as_of=as_of))


@pytest.mark.parametrize("sample", [Sample("customer_id", max_ids=120), Sample("customer_id", fraction=0.4)])
def test_a_sample_keeps_the_same_customers_in_both_engines(shop, events, sample):
    expected = _duckdb(shop, sample)
    got = counts.collect_counts(counts.spark_counts(events, shop[0].as_of, sample))
    assert 50 < len(got) < 200
    assert_same_counts(got, expected)


@pytest.mark.parametrize("candidate", [BGNBD, MBGNBD])
def test_the_fits_on_spark_counts_are_the_fits_on_the_customer_features(shop, events, candidate):
    spark_fit = counts.fit_count_models(
        counts.collect_counts(counts.spark_counts(events, shop[0].as_of)), HORIZON, candidate
    )
    duckdb_fit = counts.fit_count_models(_duckdb(shop), HORIZON, candidate)
    np.testing.assert_allclose(spark_fit.bgnbd.params_, duckdb_fit.bgnbd.params_, rtol=1e-9)
    assert spark_fit.gamma_gamma is not None and duckdb_fit.gamma_gamma is not None
    np.testing.assert_allclose(spark_fit.gamma_gamma.to_array(), duckdb_fit.gamma_gamma.to_array(), rtol=1e-9)
    assert spark_fit.mean_order_value == pytest.approx(duckdb_fit.mean_order_value, rel=1e-12)

    # and they are what propensity training fits on the whole customer features today
    with connect(shop[0].warehouse) as con:
        features = customer_features_frame(con, shop[0].as_of)
    today = fit_probabilistic(candidate, features, HORIZON)
    np.testing.assert_allclose(spark_fit.bgnbd.params_, today.params_, rtol=1e-9)
    mean_value, gamma_gamma = fit_spend_per_order(features)
    np.testing.assert_allclose(spark_fit.gamma_gamma.to_array(), gamma_gamma.to_array(), rtol=1e-9)
    assert spark_fit.mean_order_value == pytest.approx(mean_value, rel=1e-12)
