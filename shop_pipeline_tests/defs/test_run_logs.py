"""The run's step lines and log file, through a real in-process Dagster run."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
)

from shop_pipeline.defs.run_logs import RUN_LOGGERS, run_log_config

days = DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-03-01")


@asset(
    partitions_def=days,
    check_specs=[AssetCheckSpec("rows_known", asset="daily_rows"), AssetCheckSpec("never_empty", asset="daily_rows")],
)
def daily_rows(context: AssetExecutionContext):
    yield AssetCheckResult(check_name="rows_known", passed=True)
    yield AssetCheckResult(check_name="never_empty", passed=False, severity=AssetCheckSeverity.WARN)
    for key in context.partition_keys:  # each partition's own rows, as the pipeline's partitioned assets say
        context.add_asset_metadata({"dagster/row_count": 10 + int(key[-2:])}, partition_key=key)
    yield MaterializeResult(metadata={"run_partitions": len(context.partition_keys)})


@asset(deps=[daily_rows])
def model():
    return MaterializeResult(metadata={"dagster/row_count": 7, "reused_version": True})


@asset(deps=[model])
def broken():
    raise ValueError("the table is locked\nsecond line of the traceback")


def _run(tmp_path, verbose=False):
    job = define_asset_job("everything")
    definitions = Definitions(assets=[daily_rows, model, broken], jobs=[job], loggers=RUN_LOGGERS)
    return definitions.resolve_job_def("everything").execute_in_process(
        run_config=run_log_config(tmp_path / "logs" / "dagster.log", verbose=verbose),
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-02-28"},
    )


def test_one_line_per_step_with_rows_checks_and_failures_and_the_log_in_a_file(tmp_path, capsys):
    result = _run(tmp_path)
    assert not result.success
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.strip()]
    assert len(lines) == 3, captured.out  # one per step, not one per partition or event
    daily, model_line, broken_line = lines
    assert daily.split()[0] == "daily_rows" and " ok " in daily
    # the range's rows: every partition's own count, summed (59 days: 10 + day of month each)
    expected = sum(10 + day for day in range(1, 32)) + sum(10 + day for day in range(1, 29))
    assert f"rows {expected:,}" in daily and "checks 1/2 passed, failed: never_empty (warn)" in daily
    assert "rows 7" in model_line and "model reused" in model_line
    assert "FAILED" in broken_line and "the table is locked" in broken_line
    assert "second line" not in broken_line
    assert "DEBUG" not in captured.out + captured.err
    log = (tmp_path / "logs" / "dagster.log").read_text()
    assert "STEP_SUCCESS" in log and "the table is locked" in log


def test_verbose_streams_dagsters_log_instead_of_step_lines(tmp_path, capsys):
    _run(tmp_path, verbose=True)
    captured = capsys.readouterr()
    assert "STEP_SUCCESS" in captured.out + captured.err
    assert "checks 1/2 passed" not in captured.out
