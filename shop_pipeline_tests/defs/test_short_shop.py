"""Issue 14: a shop too short for some models runs to a partial result, not to tracebacks.

A 14-day shop through the real command: the demand forecast (a 14-day horizon plus history) and
the purchase propensity (a 30-day label window) cannot train on 14 days, so they are skipped with
one line each, their downstream assets are not written, every other table is, and the command
exits 3 ("partial"). A real error in a model is still a failure (exit 1) with its traceback in the log.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shop_pipeline import cli
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect

CLI = str(Path(sys.executable).with_name("shop-pipeline"))
FORTNIGHT = GeneratorConfig(events=15_000, days=14, seed=5)
# these cannot train on 14 days whatever their code does: their windows are longer than the data
CANNOT_TRAIN = {"demand_forecast_model", "propensity_model"}
# a model step -> the scoring table it writes when it trains
SCORE_TABLES = {
    "demand_forecast_model": "scoring.demand_forecasts",
    "propensity_model": "scoring.customer_scores",
    "recommendation_model": "scoring.recommendations",
    "order_risk_model": "scoring.order_risk_scores",
}
DATA_TABLES = {
    "staging.events",
    "staging.quarantined_events",
    "features.product_daily_sales",
    "features.customer_features",
    "features.interactions",
    "features.order_features",
}
SKIPPED_LINE = re.compile(r"^skipped (\w+): (.+)$")


def _tables(warehouse: Path) -> dict[str, int]:
    with connect(warehouse) as con:
        names = [
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('staging', 'features', 'scoring')"
            ).fetchall()
        ]
        return {
            name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in names
        }  # names from the catalog


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("fortnight") / "shop"
    generate_shop(home, FORTNIGHT)
    env = {**os.environ, "SHOP_PIPELINE_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    completed = subprocess.run([CLI, "run", "--home", str(home)], capture_output=True, text=True, timeout=300, env=env)
    return ShopPaths.at(home), completed


def test_a_fortnight_shop_skips_the_models_it_is_too_short_for_and_ends_partial(short_run):
    paths, completed = short_run
    out = completed.stdout + completed.stderr
    assert completed.returncode == cli.EXIT_PARTIAL == 3, out[-3000:]
    assert "Traceback" not in out and "Stack Trace" not in out
    skipped = {}
    for line in completed.stdout.splitlines():
        match = SKIPPED_LINE.match(line)
        if match:
            assert match.group(1) not in skipped, f"{match.group(1)} named twice"
            skipped[match.group(1)] = match.group(2)
    assert set(skipped) >= CANNOT_TRAIN, completed.stdout[-3000:]
    assert set(skipped) <= set(SCORE_TABLES)  # only model steps are skipped, never a data stage
    for reason in skipped.values():
        assert "Error" not in reason and len(reason) < 600  # a sentence a person reads, not a repr
    assert "PARTIAL" in completed.stderr and "FAILED" not in completed.stderr
    assert str(paths.logs / "dagster.log") in completed.stderr

    tables = _tables(paths.warehouse)
    for table in DATA_TABLES:
        assert tables.get(table, 0) > 0, f"{table} was not written"
    for step, table in SCORE_TABLES.items():
        # every model that could train wrote its scores; a skipped one wrote none
        assert (table in tables and tables[table] > 0) == (step not in skipped), (step, sorted(tables))
    assert "scoring.order_risk_scores" in tables  # order risk trains unsupervised on a fortnight

    # the reasons and the full record stay in Dagster's log, the UI's step shows the reason
    log = (paths.logs / "dagster.log").read_text()
    for reason in skipped.values():
        assert reason[:80] in log


def test_a_real_error_in_a_model_is_still_a_failure_with_a_pointer_to_the_log(tmp_path, monkeypatch, capsys):
    home = tmp_path / "shop"
    generate_shop(home, FORTNIGHT)
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster_home"))  # the command sets it; undone after the test

    def broken(*_, **__):
        raise RuntimeError("the order features are corrupt")

    monkeypatch.setattr("shop_pipeline.ml.order_risk.train.run_order_risk_frames", broken)
    assert cli.main(["run", "--home", str(home)]) == cli.EXIT_FAILED == 1
    captured = capsys.readouterr()
    assert (
        "FAILED: " in captured.err and "order_risk_model: RuntimeError: the order features are corrupt" in captured.err
    )
    assert "skipped order_risk_model" not in captured.out
    log = home / "logs" / "dagster.log"
    assert f"traceback and details: {log}" in captured.err
    assert "Traceback" not in captured.out + captured.err
    text = log.read_text()
    assert "RuntimeError: the order features are corrupt" in text and "Stack Trace" in text
    # the data stages and the models that could train were still written
    tables = _tables(ShopPaths.at(home).warehouse)
    assert set(tables) >= DATA_TABLES and "scoring.order_risk_scores" not in tables


def test_the_models_that_trained_still_reach_the_online_api_after_a_partial_run(short_run):
    import json

    from shop_pipeline.serving.snapshot import MANIFEST, current_snapshot_dir, serving_root

    paths, completed = short_run
    snapshot = current_snapshot_dir(serving_root(paths.home))
    assert snapshot is not None, completed.stdout[-3000:]
    manifest = json.loads((snapshot / MANIFEST).read_text())
    tables = _tables(paths.warehouse)
    assert manifest["rows"]["recommendations"] == tables["scoring.recommendations"] > 0
    assert manifest["rows"]["customer_scores"] == 0  # propensity was skipped: no scores to serve
    assert "demand" not in manifest and "order_risk" in manifest
    assert "serving_snapshot" not in completed.stdout.split("shop_pipeline run summary")[1].split("checks:")[0]
