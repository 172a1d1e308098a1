"""The `shop-pipeline run` front door: arguments checked before any work, the run's range from the data."""

import datetime as dt

import pytest

from shop_pipeline import cli
from shop_pipeline.pipeline_run import describe_out_of_range, landed_days
from shop_pipeline.settings import PARTITIONS_START_ENV, ShopPaths, partitions_start, recorded_partitions_start

TODAY = dt.date(2025, 3, 10)


def _land(paths: ShopPaths, *names: str) -> None:
    for name in names:
        (paths.events_landing / name).write_text("event_id,event_time\n")


@pytest.fixture
def shop(tmp_path, monkeypatch):
    paths = ShopPaths.at(tmp_path / "shop").ensure()
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(paths.home))
    return paths


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--as-of", "2025-13-45"], "'2025-13-45' is not a day YYYY-MM-DD"),
        (["run", "--groups", "nosuchgroup"], "unknown group(s) nosuchgroup"),
        (["run", "--forecast-horizon-days", "0"], "must be at least 1"),
        (["run", "--propensity-horizon-days", "soon"], "'soon' is not a whole number of days"),
        (["run", "--recommendation-recency-days", "0"], "must be at least 1"),
    ],
)
def test_bad_arguments_are_refused_in_one_line_before_any_work(shop, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--home", str(shop.home)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (shop.home / "dagster_home").exists()


def test_a_cut_off_outside_the_landed_days_is_refused(shop, capsys, monkeypatch):
    monkeypatch.setenv(PARTITIONS_START_ENV, "2025-01-01")
    _land(shop, "events_2025-01-02.csv", "events_2025-01-05.csv")
    for as_of in ("2024-12-31", "2025-01-06"):
        assert cli.main(["run", "--as-of", as_of, "--home", str(shop.home)]) == 2
        assert "outside the landed days 2025-01-02 .. 2025-01-05" in capsys.readouterr().err
    assert not (shop.home / "dagster_home").exists()


def test_the_first_run_records_the_first_landed_day_as_the_first_partition(shop, monkeypatch):
    monkeypatch.delenv(PARTITIONS_START_ENV, raising=False)
    _land(shop, "events_2019-06-02.csv", "events_2019-06-03.csv")
    days = landed_days(shop, today=TODAY)
    assert days.span == (dt.date(2019, 6, 2), dt.date(2019, 6, 3))
    assert recorded_partitions_start(shop) == dt.date(2019, 6, 2)
    assert partitions_start() == "2019-06-02"
    # recorded once: a later file dated before it is refused, not a silent move of the partitions
    _land(shop, "events_2019-05-01.csv")
    again = landed_days(shop, today=TODAY)
    assert again.span == (dt.date(2019, 6, 2), dt.date(2019, 6, 3))
    assert [f.relative for f in again.out_of_range] == ["events/events_2019-05-01.csv"]


def test_a_file_dated_far_in_the_future_is_left_out_of_the_range_and_named(shop, monkeypatch):
    monkeypatch.delenv(PARTITIONS_START_ENV, raising=False)
    _land(shop, "events_2025-03-01.csv", "events_2025-03-11.csv", "events_2099-01-01.csv")
    days = landed_days(shop, today=TODAY)
    # tomorrow is a partition (a shop east of UTC names files by its local day); 2099 is not
    assert days.span == (dt.date(2025, 3, 1), dt.date(2025, 3, 11))
    assert recorded_partitions_start(shop) == dt.date(2025, 3, 1)
    assert [f.relative for f in days.out_of_range] == ["events/events_2099-01-01.csv"]
    text = describe_out_of_range(days)
    assert "events/events_2099-01-01.csv (2099-01-01)" in text
    assert "2025-03-01 .. 2025-03-11" in text


def test_the_environment_overrides_the_recorded_first_partition(shop, monkeypatch):
    monkeypatch.delenv(PARTITIONS_START_ENV, raising=False)
    _land(shop, "events_2025-02-01.csv")
    landed_days(shop, today=TODAY)
    assert partitions_start() == "2025-02-01"
    monkeypatch.setenv(PARTITIONS_START_ENV, "2024-12-01")
    assert partitions_start() == "2024-12-01"
    _land(shop, "events_2025-01-15.csv")
    assert landed_days(shop, today=TODAY).out_of_range == []


def test_a_sigterm_that_dagster_swallows_still_makes_the_command_fail(shop, monkeypatch, capsys):
    """Dagster replaces the signal handlers during a run and can end it SUCCESS after a SIGTERM."""
    import os
    import signal

    from shop_pipeline import pipeline_run

    monkeypatch.setenv(PARTITIONS_START_ENV, "2025-01-01")
    monkeypatch.setenv("DAGSTER_HOME", str(shop.dagster_home))  # the command sets it; undone after the test
    _land(shop, "events_2025-01-02.csv")

    def swallowed_run(paths, instance, run_config, **_):
        previous = signal.signal(signal.SIGTERM, lambda *_: None)  # what Dagster's capture does
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            signal.signal(signal.SIGTERM, previous)
        return pipeline_run.PipelineOutcome(days=(dt.date(2025, 1, 2),) * 2, success=True, run_id="r1")

    monkeypatch.setattr(pipeline_run, "run_full_pipeline", swallowed_run)
    monkeypatch.setattr("shop_pipeline.summary.warehouse_summary", lambda _: None)
    monkeypatch.setattr("shop_pipeline.summary.format_summary", lambda *_, **__: "summary")
    assert cli.main(["run", "--home", str(shop.home)]) == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM" in capsys.readouterr().err


def test_the_exit_code_says_done_partial_or_failed(tmp_path, capsys):
    from shop_pipeline.pipeline_run import PipelineOutcome, SkippedModel

    log = tmp_path / "logs" / "dagster.log"
    days = (dt.date(2025, 1, 1), dt.date(2025, 1, 14))
    short = SkippedModel(
        "demand_forecast_model",
        "demand forecast: needs 28 days, has 14",
        ("demand_forecast_champion", "demand_forecasts"),
    )
    assert short.describe() == (
        "skipped demand_forecast_model: demand forecast: needs 28 days, has 14 "
        "(not written: demand_forecast_champion, demand_forecasts)"
    )

    assert cli._exit_code(PipelineOutcome(days, success=True, run_id="r0"), set(), log) == cli.EXIT_OK == 0
    assert capsys.readouterr().err == ""

    partial = PipelineOutcome(days, success=False, run_id="r1", skipped=[short])
    assert partial.status == "partial"
    assert cli._exit_code(partial, set(), log) == cli.EXIT_PARTIAL == 3
    err = capsys.readouterr().err
    assert (
        "run r1 PARTIAL: the data cannot train every model, skipped: demand_forecast_model (demand forecast: "
        "needs 28 days, has 14)"
    ) in err and str(log) in err

    # a skipped model next to a real error: the run failed
    failed = PipelineOutcome(
        days, success=False, run_id="r2", skipped=[short], error="order_risk_model: RuntimeError: disk full"
    )
    assert failed.status == "failed"
    assert cli._exit_code(failed, set(), log) == cli.EXIT_FAILED == 1
    err = capsys.readouterr().err
    assert "run r2 FAILED: order_risk_model: RuntimeError: disk full" in err and f"details: {log}" in err
    assert "PARTIAL" not in err


def test_the_exit_codes_are_in_the_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    assert "3 partial" in capsys.readouterr().out


def test_the_window_arguments_become_the_window_resource_config():
    from shop_pipeline.pipeline_run import modeling_run_config

    assert modeling_run_config() == {}
    config = modeling_run_config("2025-03-01", None, 45, 30)["resources"]["modeling"]["config"]
    assert config == {"as_of": "2025-03-01", "propensity_horizon_days": 45, "recommendation_recency_days": 30}


# --- the verdict on a run whose failures are not all short-data skips --------------------


def _tiny_full_pipeline(real_failure: str):
    """A stand-in for shop_pipeline.definitions: a `full_pipeline` job of three tiny assets: one
    model skipped for lack of data and one step that really fails (an audit or a blocking check)."""
    import types

    from dagster import (
        AssetCheckResult,
        AssetCheckSpec,
        Definitions,
        Failure,
        MaterializeResult,
        asset,
        define_asset_job,
        in_process_executor,
    )

    from shop_pipeline.defs.models_common import skips_when_data_is_short
    from shop_pipeline.defs.run_logs import RUN_LOGGERS
    from shop_pipeline.ml.common.errors import NotEnoughData

    @asset
    def history():
        return 1

    @asset(deps=[history])
    @skips_when_data_is_short
    def short_model():
        raise NotEnoughData("demand forecast: needs 28 days of history before the cut-off, has 14")

    @asset(deps=[history])
    def audited_table():  # what an audited write raises when its suite fails (defs/features.build_audited)
        raise Failure(description="customer_features_suite failed; the last good table stays")

    @asset(deps=[history], check_specs=[AssetCheckSpec("raw_suite", asset="checked_table", blocking=True)])
    def checked_table():
        yield AssetCheckResult(check_name="raw_suite", passed=False)
        yield MaterializeResult()

    failing = {"audit": audited_table, "blocking_check": checked_table}[real_failure]
    module = types.ModuleType("shop_pipeline.definitions")
    module.build_definitions = lambda paths=None: Definitions(
        assets=[history, short_model, failing],
        jobs=[define_asset_job("full_pipeline", selection="*")],
        loggers=RUN_LOGGERS,
        executor=in_process_executor,
    )
    return module, failing.key.to_user_string()


@pytest.mark.parametrize("real_failure", ["audit", "blocking_check"])
def test_a_failure_that_is_not_a_short_data_skip_fails_the_run_next_to_a_skip(shop, monkeypatch, capsys, real_failure):
    """A failed audit or blocking check is a failure of the run (exit 1, FAILED, named), even
    when a model was also skipped for lack of data: never 'partial: the data is too short'."""
    import sys

    monkeypatch.setenv(PARTITIONS_START_ENV, "2025-01-01")
    monkeypatch.setenv("DAGSTER_HOME", str(shop.dagster_home))  # the command sets it; undone after the test
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    _land(shop, "events_2025-01-02.csv")
    definitions, failing_step = _tiny_full_pipeline(real_failure)
    monkeypatch.setitem(sys.modules, "shop_pipeline.definitions", definitions)
    monkeypatch.setattr("shop_pipeline.summary.warehouse_summary", lambda _: None)
    monkeypatch.setattr("shop_pipeline.summary.format_summary", lambda *_, skipped, **__: "\n".join(skipped))

    assert cli.main(["run", "--home", str(shop.home)]) == cli.EXIT_FAILED == 1
    out, err = capsys.readouterr()
    assert "FAILED: " in err and f"{failing_step}: " in err and "PARTIAL" not in err
    assert "skipped short_model: demand forecast: needs 28 days" in out  # the skip is still said, as a skip
    assert f"skipped {failing_step}" not in out
