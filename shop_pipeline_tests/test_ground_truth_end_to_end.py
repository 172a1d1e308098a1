"""The invariants against a generated shop's ground truth, through a real Dagster run."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance

from shop_pipeline.pipeline_run import run_full_pipeline
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect

EXPECTED_REASON = {
    "malformed_line": "malformed_line",
    "missing_user_id": "missing_user_id",
    "missing_product_id": "missing_product_id",
    "negative_price": "negative_price",
    "absurd_price": "price_out_of_range",
    "unparseable_price": "unparseable_price",
    "unknown_event_type": "unknown_event_type",
    "future_event_time": "event_time_in_future",
    "ancient_event_time": "event_time_too_old",
    "unparseable_event_time": "unparseable_event_time",
    "invalid_utf8": "invalid_encoding",
}


@pytest.fixture(scope="module", params=["csv", "jsonl"])
def generated_shop(request, tmp_path_factory):
    paths = ShopPaths.at(tmp_path_factory.mktemp(f"shop-{request.param}")).ensure()
    generate_shop(paths.home, GeneratorConfig(events=20_000, days=10, seed=7, format=request.param))
    with DagsterInstance.ephemeral() as instance:
        outcome = run_full_pipeline(paths, instance, groups=["ingestion", "staging"])
    assert outcome.success, outcome.error
    with (paths.ground_truth / "defects.csv").open() as handle:
        defects = list(csv.DictReader(handle))
    return paths, defects, outcome


def rows(paths, sql):
    with connect(paths.warehouse) as con:
        return con.execute(sql).fetchall()


def test_every_planted_bad_row_is_quarantined_with_its_reason_and_no_good_row_is(generated_shop):
    paths, defects, _ = generated_shop
    expected = {
        (d["source_file"], int(d["line"]), EXPECTED_REASON[d["defect"]])
        for d in defects
        if d["expected_outcome"] == "quarantine"
    }
    quarantined = set(rows(paths, "SELECT source_file, line, reason_code FROM staging.quarantined_events"))
    assert expected, "the generator planted no row defects"
    assert quarantined == expected


def test_duplicates_and_the_replayed_file_add_nothing(generated_shop):
    paths, defects, _ = generated_shop
    expected = {(d["source_file"], int(d["line"])) for d in defects if d["expected_outcome"] == "drop_duplicate"}
    dropped = set(rows(paths, "SELECT source_file, line FROM staging.duplicate_events"))
    assert dropped == expected
    [replay] = [d["source_file"] for d in defects if d["defect"] == "replayed_file"]
    assert rows(paths, f"SELECT status FROM raw.ingested_files WHERE path = '{replay}'") == [("duplicate_file",)]
    assert rows(paths, "SELECT count(*) - count(DISTINCT event_id) FROM staging.events") == [(0,)]
    # The schema-drift file is the only file skipped, and it is skipped whole.
    failed = rows(paths, "SELECT path FROM raw.ingested_files WHERE status = 'failed'")
    assert failed == [(d["source_file"],) for d in defects if d["defect"] == "schema_drift"]


def test_conservation_per_file_and_mixed_offsets_normalised(generated_shop):
    paths, defects, outcome = generated_shop
    broken = rows(
        paths,
        """SELECT path FROM raw.ingested_files
           WHERE status <> 'failed' AND rows_read <> rows_clean + rows_quarantined + rows_duplicate""",
    )
    assert broken == []
    assert ("clean_events:conservation", True) in outcome.checks
    normalised = {d["event_id"] for d in defects if d["defect"] == "mixed_utc_offset"}
    clean_ids = {r[0] for r in rows(paths, "SELECT event_id FROM staging.events")}
    assert normalised <= clean_ids


def test_late_events_stay_in_their_files_partition_and_are_flagged(generated_shop):
    paths, _, _ = generated_shop
    [(late, worst)] = rows(
        paths,
        """SELECT count(*), max(date_diff('hour', event_time, CAST(partition_date AS TIMESTAMP)))
           FROM staging.events WHERE is_late""",
    )
    assert late > 0
    assert worst <= 3 * 24


def test_the_cli_runs_the_demo_and_prints_a_summary(tmp_path):
    shop_pipeline = Path(sys.executable).with_name("shop-pipeline")
    completed = subprocess.run(
        [
            str(shop_pipeline),
            "demo",
            "--events",
            "40000",
            "--days",
            "60",
            "--home",
            str(tmp_path / "shop"),
            "--propensity-horizon-days",
            "14",
            "--forecast-horizon-days",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "shop_pipeline run summary" in completed.stdout
    assert "PASS clean_events:conservation" in completed.stdout
    assert (tmp_path / "shop" / "dagster_home" / "dagster.yaml").is_file()
    # a person reads one line per step; Dagster's event stream goes to the shop's log file
    step_lines = [line.split() for line in completed.stdout.splitlines() if line.startswith("  ") and " s  " in line]
    assert {"raw_events", "clean_events", "demand_forecast_model", "recommendations"} <= {w[0] for w in step_lines}
    # a run over several months prints each step's rows over all of them (60 days: 2-3 months)
    with connect(tmp_path / "shop" / "warehouse" / "shop.duckdb", read_only=True) as con:
        clean = con.execute("SELECT count(*) FROM staging.events").fetchone()[0]
        months = con.execute(
            "SELECT count(DISTINCT date_trunc('month', partition_date)) FROM staging.events"
        ).fetchone()[0]
    [clean_line] = [w for w in step_lines if w[0] == "clean_events"]
    assert months > 1 and int(clean_line[clean_line.index("rows") + 1].replace(",", "")) == clean
    assert "DEBUG" not in completed.stdout + completed.stderr
    assert "Warning" not in completed.stderr
    assert "STEP_SUCCESS" in (tmp_path / "shop" / "logs" / "dagster.log").read_text()
    # customer data is its owner's only
    home = tmp_path / "shop"
    assert home.stat().st_mode & 0o777 == 0o700
    for created in (
        home / "warehouse" / "shop.duckdb",
        home / "dagster_home" / "dagster.yaml",
        home / "logs" / "dagster.log",
        *home.glob("models/**/*"),
        *home.glob("reports/*"),
    ):
        assert created.stat().st_mode & 0o077 == 0, f"{created} is readable by others"
