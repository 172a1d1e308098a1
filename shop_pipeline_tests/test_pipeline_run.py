"""The whole pipeline as one run (pipeline_run.run_full_pipeline) over a tiny stand-in graph:
which steps were skipped and why, what they did not write, partial vs failed, the run's tags."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import sys
import types

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    ConfigurableResource,
    DagsterInstance,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
    in_process_executor,
    logger,
)

from shop_pipeline import pipeline_run
from shop_pipeline.defs.models_common import skips_when_data_is_short
from shop_pipeline.instance import HOST_TAG
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.pipeline_run import (
    FAILED,
    PARTIAL,
    SUCCESS,
    LandedDays,
    PipelineOutcome,
    SkippedModel,
    describe_out_of_range,
    landed_days,
    run_full_pipeline,
)
from shop_pipeline.settings import PARTITIONS_START_ENV, ShopPaths
from shop_pipeline.sources.landing import discover


class Store(ConfigurableResource):
    name: str


REASON = "demand forecast: needs 28 days of history before the cut-off, has 14"


def _definitions(
    model_fails: str | None = "short",
    snapshot_fails: bool = False,
    check_passes: bool = True,
    sibling_fails: bool = False,
):
    """A stand-in for shop_pipeline.definitions: history -> model -> model_scores -> model_report,
    history -> sibling (with a check), and the serving snapshot downstream of both branches."""
    calls = {"snapshot": 0, "paths": [], "loggers": []}

    @logger(config_schema={"tag": str})
    def tagged(init_context):
        calls["loggers"].append((init_context.run_id, init_context.logger_config["tag"]))
        return logging.Logger("tagged")

    @asset(group_name="ingestion")
    def history(store: Store):
        assert store.name == "the store"
        return 1

    @asset(deps=[history], group_name="training")
    @skips_when_data_is_short
    def model():
        if model_fails == "short":
            raise NotEnoughData(REASON)
        if model_fails == "real":
            raise RuntimeError("the model store is unreachable")
        return 2

    @asset(deps=[model], group_name="scoring")
    def model_scores():
        return 3

    @asset(deps=[model_scores], group_name="scoring")
    def model_report():
        return 4

    @asset(deps=[history], group_name="scoring", check_specs=[AssetCheckSpec("rows", asset="sibling")])
    def sibling():
        if sibling_fails:
            raise RuntimeError("disk full")
        yield MaterializeResult()
        yield AssetCheckResult(check_name="rows", passed=check_passes)

    @asset(deps=[model_scores, sibling], group_name="serving")
    def serving_snapshot(store: Store):
        assert store.name == "the store"
        calls["snapshot"] += 1
        if snapshot_fails:
            raise RuntimeError("snapshot store full")
        return 5

    module = types.ModuleType("shop_pipeline.definitions")

    def build_definitions(paths=None):
        calls["paths"].append(paths)
        return Definitions(
            assets=[history, model, model_scores, model_report, sibling, serving_snapshot],
            jobs=[define_asset_job("full_pipeline", selection="*")],
            executor=in_process_executor,
            resources={"store": Store.configure_at_launch()},
            loggers={"tagged": tagged},
        )

    module.build_definitions = build_definitions
    return module, calls


RUN_CONFIG = {"resources": {"store": {"config": {"name": "the store"}}}}
LOG_CONFIG = {"loggers": {"tagged": {"config": {"tag": "t"}}}}


@pytest.fixture
def shop(tmp_path, monkeypatch):
    paths = ShopPaths.at(tmp_path / "shop").ensure()
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(paths.home))
    monkeypatch.setenv(PARTITIONS_START_ENV, "2025-01-01")
    for name in ("events_2025-01-02.csv", "events_2025-02-03.csv", "events_2099-01-01.csv"):
        (paths.events_landing / name).write_text("event_id,event_time\n")
    return paths


def _run(shop, monkeypatch, groups=None, **kwargs):
    module, calls = _definitions(**kwargs)
    monkeypatch.setitem(sys.modules, "shop_pipeline.definitions", module)
    instance = DagsterInstance.ephemeral()
    outcome = run_full_pipeline(shop, instance, RUN_CONFIG, groups=groups, log_config=LOG_CONFIG)
    assert calls["paths"] == [shop]
    return outcome, instance, calls


def test_a_model_too_short_is_skipped_with_its_reason_and_what_it_did_not_write(shop, monkeypatch):
    outcome, instance, calls = _run(shop, monkeypatch)
    assert outcome.success is False and outcome.error is None
    assert outcome.status == PARTIAL == "partial"
    # the snapshot of what was scored is published in a run of its own: not in not_written
    assert outcome.skipped == [SkippedModel("model", REASON, ("model_report", "model_scores"))]
    assert calls["snapshot"] == 1
    assert outcome.days == (dt.date(2025, 1, 2), dt.date(2025, 2, 3))
    assert outcome.checks == [("sibling:rows", True)]
    assert [f.day for f in outcome.out_of_range] == [dt.date(2099, 1, 1)]
    snapshot_runs = [r for r in instance.get_runs() if r.run_id != outcome.run_id]
    assert len(snapshot_runs) == 1  # in the shop's instance, tagged with this machine
    assert snapshot_runs[0].asset_selection == {AssetKey("serving_snapshot")}
    assert snapshot_runs[0].tags[HOST_TAG] == socket.gethostname()
    # the run's loggers are configured, in the snapshot's own run too
    assert {tag for _, tag in calls["loggers"]} == {"t"}
    assert {run_id for run_id, _ in calls["loggers"]} == {outcome.run_id, snapshot_runs[0].run_id}
    run = instance.get_run_by_id(outcome.run_id)
    assert run is not None
    assert run.tags[pipeline_run.RANGE_START_TAG] == "2025-01-01"
    assert run.tags[pipeline_run.RANGE_END_TAG] == "2025-02-01"
    assert run.tags[HOST_TAG] == socket.gethostname()


def test_when_the_snapshot_cannot_be_published_alone_it_stays_not_written(shop, monkeypatch):
    outcome, _, calls = _run(shop, monkeypatch, snapshot_fails=True)
    assert outcome.status == PARTIAL
    assert outcome.skipped == [SkippedModel("model", REASON, ("model_report", "model_scores", "serving_snapshot"))]
    assert calls["snapshot"] == 1


def test_a_selection_without_the_snapshot_does_not_publish_it(shop, monkeypatch):
    outcome, _, calls = _run(shop, monkeypatch, groups=["ingestion", "training", "scoring"])
    assert outcome.status == PARTIAL
    assert outcome.skipped == [SkippedModel("model", REASON, ("model_report", "model_scores"))]
    assert calls["snapshot"] == 0


def test_a_run_of_some_groups_materializes_only_them(shop, monkeypatch):
    outcome, instance, calls = _run(shop, monkeypatch, groups=["ingestion", "scoring"], model_fails=None)
    assert outcome.status == SUCCESS
    assert calls["snapshot"] == 0
    assert instance.get_run_by_id(outcome.run_id).asset_selection == {
        AssetKey(name) for name in ("history", "model_scores", "model_report", "sibling")
    }


def test_a_real_error_fails_the_run_and_names_the_step(shop, monkeypatch):
    outcome, _, calls = _run(shop, monkeypatch, model_fails="real")
    assert outcome.status == FAILED == "failed"
    assert outcome.skipped == []
    assert outcome.error == "model: RuntimeError: the model store is unreachable"
    assert calls["snapshot"] == 0


def test_every_real_error_is_named(shop, monkeypatch):
    outcome, _, _ = _run(shop, monkeypatch, model_fails="real", sibling_fails=True)
    assert outcome.status == FAILED
    assert sorted(outcome.error.split("; ")) == [
        "model: RuntimeError: the model store is unreachable",
        "sibling: RuntimeError: disk full",
    ]


def test_a_clean_run_succeeds_with_its_checks(shop, monkeypatch):
    outcome, _, calls = _run(shop, monkeypatch, model_fails=None, check_passes=False)
    assert outcome.success is True and outcome.status == SUCCESS == "success"
    assert outcome.error is None and outcome.skipped == []
    assert outcome.checks == [("sibling:rows", False)]
    assert calls["snapshot"] == 1


def test_nothing_landed_is_no_run(tmp_path, monkeypatch):
    paths = ShopPaths.at(tmp_path / "empty").ensure()
    monkeypatch.setenv(PARTITIONS_START_ENV, "2025-01-01")
    (paths.events_landing / "events_2099-01-01.csv").write_text("event_id,event_time\n")
    outcome = run_full_pipeline(paths, DagsterInstance.ephemeral())
    assert [f.day for f in outcome.out_of_range] == [dt.date(2099, 1, 1)]
    assert outcome.days is None and outcome.run_id is None and outcome.success is False
    assert outcome.skipped == [] and outcome.error is None and outcome.checks == []


def test_status_is_partial_only_for_skips_without_a_real_error():
    days = (dt.date(2025, 1, 1),) * 2
    short = SkippedModel("m", "r")
    assert PipelineOutcome(days).status == FAILED
    assert PipelineOutcome(days, success=True, skipped=[short]).status == SUCCESS
    assert PipelineOutcome(days, skipped=[short]).status == PARTIAL
    assert PipelineOutcome(days, skipped=[short], error="x: boom").status == FAILED
    assert PipelineOutcome(days, error="x: boom").status == FAILED
    assert SkippedModel("m", "too short").describe() == "skipped m: too short"
    assert SkippedModel("m", "too short", ("a", "b")).describe() == "skipped m: too short (not written: a, b)"


def test_a_step_of_several_assets_has_nothing_not_written():
    class Graph:
        def has(self, key):
            return False

    assert pipeline_run._not_written(Graph(), AssetKey("multi"), set(), set()) == ()


def test_the_landed_span_and_the_files_outside_it_are_described(shop):
    today = dt.date(2025, 3, 10)
    for day in ("2099-01-01", "2099-01-02", "2099-01-03", "2099-01-04", "2099-01-05", "2099-01-06", "2024-12-31"):
        (shop.events_landing / f"events_{day}.csv").write_text("event_id,event_time\n")
    days = landed_days(shop, today=today)
    assert (days.first, days.last) == (dt.date(2025, 1, 2), dt.date(2025, 2, 3))
    assert days.span == (dt.date(2025, 1, 2), dt.date(2025, 2, 3))
    assert days.days == frozenset({dt.date(2025, 1, 2), dt.date(2025, 2, 3)})
    assert days.bounds[0] == dt.date(2025, 1, 1)
    assert len(days.out_of_range) == 7
    text = describe_out_of_range(days)
    assert text.startswith(
        f"7 landed file(s) dated outside the partitions 2025-01-01 .. {days.bounds[1]} are not ingested: "
    )
    assert " and 2 more." in text and PARTITIONS_START_ENV in text
    shown = [f for f in days.out_of_range[:5]]
    assert ", ".join(f"{f.relative} ({f.day})" for f in shown) in text
    assert days.out_of_range[5].relative not in text

    six = LandedDays(None, None, days.out_of_range[:6], days.bounds)
    assert describe_out_of_range(six).endswith(
        f" and 1 more. Rename a misdated file, or set {PARTITIONS_START_ENV} to move the first partition back."
    )
    five = LandedDays(None, None, days.out_of_range[:5], days.bounds)
    assert five.span is None and " more" not in describe_out_of_range(five)
    assert "). Rename a misdated file" in describe_out_of_range(five)
    assert len(discover(shop.landing)) == 9


def test_every_modeling_argument_given_is_configured():
    config = pipeline_run.modeling_run_config(forecast_horizon_days=7)
    assert config == {"resources": {"modeling": {"config": {"forecast_horizon_days": 7}}}}


@pytest.mark.parametrize(
    "landed, recorded",
    [
        (["events_2025-03-11.csv", "events_2025-03-12.csv"], dt.date(2025, 3, 11)),  # tomorrow is a partition day
        (["events_2025-03-12.csv"], None),  # after tomorrow: not recorded as the first partition
    ],
)
def test_the_first_partition_is_recorded_from_the_plausible_days_only(tmp_path, monkeypatch, landed, recorded):
    from shop_pipeline.settings import recorded_partitions_start

    paths = ShopPaths.at(tmp_path / "fresh").ensure()
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(paths.home))
    monkeypatch.delenv(PARTITIONS_START_ENV, raising=False)
    for name in landed:
        (paths.events_landing / name).write_text("event_id,event_time\n")
    days = landed_days(paths, today=dt.date(2025, 3, 10))
    assert recorded_partitions_start(paths) == recorded
    assert [f.day for f in days.out_of_range] == [dt.date(2025, 3, 12)]
