"""A shop too short or too thin to measure a recommender still gets lists: most-popular, unmeasured.

A 14-day shop leaves no history before the 14-day held-out window; a window with too few
customers to evaluate measures nothing either. Then most-popular serves (registered with its
one-line reason, refused by the gate with a warning that does not block) and scoring writes
its lists marked unvalidated. No interaction at all is NotEnoughData: nothing to recommend from.
"""

import datetime as dt

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetKey, AssetSelection, DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.defs.common import add_partitions, partition_key
from shop_pipeline.features.interactions import build_interactions
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.recommendation.candidates import FALLBACK_CANDIDATE, SERVABLE
from shop_pipeline.ml.recommendation.data import load_interactions, matrix_from_frame
from shop_pipeline.ml.recommendation.score import TOP_K, recommendations_frame
from shop_pipeline.ml.recommendation.train import MEASURED, UNMEASURED, held_out_split, train
from shop_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG
from shop_pipeline.resources import Modeling, default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.warehouse.helpers import run_days

SHORT = GeneratorConfig(events=6_000, days=14, seed=3, defects="none")
LAST = SHORT.start + dt.timedelta(days=SHORT.days - 1)
RECENCY_DAYS = 3


@pytest.fixture(scope="module")
def short_warehouse(tmp_path_factory):
    home = tmp_path_factory.mktemp("short-recommend-shop")
    generate_shop(home, SHORT)
    path = home / "warehouse.duckdb"
    with connect(path) as con:
        run_days(con, home / "landing", [SHORT.start + dt.timedelta(days=i) for i in range(SHORT.days)])
        build_interactions(con, LAST)
    return path


def test_a_14_day_shop_serves_most_popular_unmeasured_with_a_one_line_reason(short_warehouse):
    with connect(short_warehouse) as con:
        history = load_interactions(con)
        run = train(con, LAST, history, seed=0)
    assert run.mode == UNMEASURED and run.serving_candidate == FALLBACK_CANDIDATE == "most_popular"
    assert run.evaluation is None and "\n" not in run.unmeasured_reason
    assert "held-out window" in run.unmeasured_reason and str(SHORT.start) in run.unmeasured_reason
    frame = recommendations_frame(run.model, history, LAST, "v-short")
    assert frame["customer_id"].nunique() == history.shape[0] > 0
    assert (frame.groupby("customer_id").size() == TOP_K).all() and set(frame["reason"]) == {"popular"}


def test_a_window_with_too_few_customers_to_evaluate_is_not_measured(short_warehouse):
    with connect(short_warehouse) as con:
        history = load_interactions(con)
        # a 5-day window leaves 9 days of history: measurable only with at least this many customers
        split = held_out_split(con, LAST, 5, min_evaluated=1)
        evaluated = len(split.test_users)
        assert evaluated > 0
        run = train(con, LAST, history, seed=0, test_days=5, min_evaluated=evaluated + 1)
        measured = train(con, LAST, history, seed=0, test_days=5, min_evaluated=evaluated)
    assert run.mode == UNMEASURED and f"{evaluated} customer(s)" in run.unmeasured_reason
    assert measured.mode == MEASURED and measured.serving_candidate in SERVABLE
    assert set(measured.metrics) == set(SERVABLE)


def test_no_interaction_at_all_is_not_enough_data():
    empty = matrix_from_frame(pd.DataFrame(), LAST)
    with pytest.raises(NotEnoughData, match="nothing to recommend from"):
        train(None, LAST, empty)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    paths = ShopPaths.at(tmp_path_factory.mktemp("short-recommend-dagster")).ensure()
    generate_shop(paths.home, SHORT)
    instance = DagsterInstance.ephemeral()
    add_partitions(instance, [SHORT.start, LAST])  # the landed months are the partitions
    resources = {**default_resources(paths), "modeling": Modeling(recommendation_recency_days=RECENCY_DAYS)}
    result = materialize(
        ASSETS,
        selection=AssetSelection.assets("recommendations").upstream().required_multi_asset_neighbors(),
        resources=resources,
        instance=instance,
        raise_on_error=False,
        tags={RANGE_START_TAG: partition_key(SHORT.start), RANGE_END_TAG: partition_key(LAST)},
    )
    return paths, instance, result


def test_through_dagster_the_gate_warns_and_the_unvalidated_lists_are_written(short_run):
    paths, instance, result = short_run
    assert result.success
    trained = instance.get_latest_materialization_event(AssetKey("recommendation_model")).asset_materialization
    assert trained.metadata["mode"].value == UNMEASURED
    assert "held-out window" in trained.metadata["unmeasured_reason"].value
    [gate] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "promotion_gate" and e.asset_key == AssetKey("recommendation_champion")
    ]
    assert not gate.passed and gate.severity == AssetCheckSeverity.WARN
    scored = instance.get_latest_materialization_event(AssetKey("recommendations")).asset_materialization
    assert scored.metadata["validated"].value is False
    assert scored.metadata["validation"].value.startswith("UNVALIDATED: recommendations: the 14-day held-out window")
    with connect(paths.warehouse) as con:
        recent = con.execute(
            "SELECT count(DISTINCT customer_id) FROM features.interactions WHERE last_interaction >= ?",
            [dt.datetime.combine(LAST + dt.timedelta(days=1 - RECENCY_DAYS), dt.time())],
        ).fetchall()[0][0]
        everyone = con.execute("SELECT count(DISTINCT customer_id) FROM features.interactions").fetchall()[0][0]
        lists = con.execute(
            "SELECT customer_id, count(*), min(reason), max(reason) FROM scoring.recommendations GROUP BY customer_id"
        ).fetchall()
    # the configured window: only customers seen in its last days, each with the full popular list
    assert 0 < len(lists) == recent < everyone
    assert all(n == TOP_K and low == high == "popular" for _, n, low, high in lists)
