"""The Postgres Dagster instance (SHOP_PIPELINE_DAGSTER_PG_URL) on a real PostgreSQL server
(cluster_fixtures.py): the dagster.yaml the shop writes for it, runs and their events stored in
the database, and the Spark mode's executor running steps in parallel processes against it."""

import time
from pathlib import Path

import psycopg2
import pytest
from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
    execute_job,
    materialize,
    reconstructable,
)

from shop_pipeline.defs.common import asset_pool, run_executor
from shop_pipeline.engine.settings import DAGSTER_PG_URL_ENV, ENGINE_ENV, SPARK
from shop_pipeline.instance import DAGSTER_YAML, GENERATED, dagster_yaml, ensure_dagster_home
from shop_pipeline.settings import ShopPaths

RENDEZVOUS_ENV = "SHOP_PIPELINE_TEST_RENDEZVOUS"


def query(url: str, sql: str, *args) -> list[tuple]:
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
    finally:
        connection.close()


@pytest.fixture
def pg_home(postgres_server, tmp_path, monkeypatch):
    """DAGSTER_HOME prepared by the shop with $SHOP_PIPELINE_DAGSTER_PG_URL set (undone after the test)."""
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, postgres_server.url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    return ensure_dagster_home(ShopPaths.at(tmp_path / "shop"))


@asset(pool=asset_pool("pg_upstream", SPARK))
def pg_upstream() -> MaterializeResult:
    return MaterializeResult(metadata={"dagster/row_count": 3})


@asset(deps=[pg_upstream], pool=asset_pool("pg_downstream", SPARK))
def pg_downstream() -> MaterializeResult:
    return MaterializeResult(metadata={"dagster/row_count": 2})


def test_the_dagster_yaml_names_the_variable_and_follows_the_settings(pg_home, postgres_server, monkeypatch):
    text = (pg_home / "dagster.yaml").read_text()
    assert text == dagster_yaml(postgres=True) and text.startswith(GENERATED)
    assert f"postgres_url:\n      env: {DAGSTER_PG_URL_ENV}" in text
    assert postgres_server.url not in text  # a password in the URL never lands in a file
    # without the variable the shop's own file goes back to SQLite; a user's own file is left alone
    monkeypatch.delenv(DAGSTER_PG_URL_ENV)
    ensure_dagster_home(ShopPaths.at(pg_home.parent / "shop"))
    assert (pg_home / "dagster.yaml").read_text() == DAGSTER_YAML
    (pg_home / "dagster.yaml").write_text("# mine\n")
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, postgres_server.url)
    ensure_dagster_home(ShopPaths.at(pg_home.parent / "shop"))
    assert (pg_home / "dagster.yaml").read_text() == "# mine\n"
    # Spark mode: a pool per asset, several steps of one at once
    monkeypatch.setenv(ENGINE_ENV, "spark")
    (pg_home / "dagster.yaml").write_text(DAGSTER_YAML)
    ensure_dagster_home(ShopPaths.at(pg_home.parent / "shop"))
    assert "default_limit: 4" in (pg_home / "dagster.yaml").read_text()


def test_a_materialization_is_stored_in_postgres(pg_home, postgres_server):
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        result = materialize([pg_upstream, pg_downstream], instance=instance)
    assert result.success
    [(status, job)] = query(
        postgres_server.url, "SELECT status, pipeline_name FROM runs WHERE run_id = %s", result.run_id
    )
    assert (status, job) == ("SUCCESS", "__ephemeral_asset_job__")
    events = {
        row[0]
        for row in query(
            postgres_server.url, "SELECT dagster_event_type FROM event_logs WHERE run_id = %s", result.run_id
        )
    }
    assert {"STEP_SUCCESS", "ASSET_MATERIALIZATION"} <= events
    assert events & {"RUN_SUCCESS", "PIPELINE_SUCCESS"}  # Dagster stores run events under their old names
    keys = {
        AssetKey.from_db_string(row[0]).path[0]
        for row in query(postgres_server.url, "SELECT asset_key FROM asset_keys")
    }
    assert {"pg_upstream", "pg_downstream"} <= keys


# ------------------------------------------------------------------ steps in parallel processes


def _meet(context: AssetExecutionContext, me: str, other: str) -> MaterializeResult:
    """Leave a mark, then wait for the other step's: both finish only if they run at the same time."""
    import os

    folder = Path(os.environ[RENDEZVOUS_ENV])
    # written aside, then renamed: the other step must never read a mark that exists but is empty
    (folder / f".{me}").write_text(str(os.getpid()))
    (folder / f".{me}").rename(folder / me)
    deadline = time.monotonic() + 120
    while not (folder / other).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{other} never ran while {me} was running: the steps ran one after the other")
        time.sleep(0.1)
    return MaterializeResult(metadata={"pid": os.getpid(), "other_pid": int((folder / other).read_text())})


@asset(pool=asset_pool("pg_left", SPARK))
def pg_left(context: AssetExecutionContext) -> MaterializeResult:
    return _meet(context, "left", "right")


@asset(pool=asset_pool("pg_right", SPARK))
def pg_right(context: AssetExecutionContext) -> MaterializeResult:
    return _meet(context, "right", "left")


def parallel_job():
    """Two independent assets with the Spark mode's executor (each step its own process)."""
    job = define_asset_job("parallel_pair", selection=[pg_left, pg_right])
    return Definitions(assets=[pg_left, pg_right], jobs=[job], executor=run_executor(SPARK)).resolve_job_def(
        "parallel_pair"
    )


def test_the_spark_modes_executor_runs_independent_steps_at_once_on_the_postgres_instance(
    pg_home, postgres_server, tmp_path, monkeypatch
):
    monkeypatch.setenv(RENDEZVOUS_ENV, str(tmp_path))
    monkeypatch.setenv(ENGINE_ENV, "spark")
    ensure_dagster_home(ShopPaths.at(tmp_path / "shop"))  # the Spark mode's pools: four slots each
    with DagsterInstance.get() as instance:
        with execute_job(reconstructable(parallel_job), instance=instance) as result:
            assert result.success
            pids = {
                event.asset_key.path[0]: event.step_materialization_data.materialization.metadata["pid"].value
                for event in result.get_asset_materialization_events()
            }
        assert set(pids) == {"pg_left", "pg_right"} and pids["pg_left"] != pids["pg_right"]
        assert {"spark/pg_left", "spark/pg_right"} <= set(instance.event_log_storage.get_concurrency_keys())
        assert instance.event_log_storage.get_concurrency_info("spark/pg_left").slot_count == 4
    step_events = query(
        postgres_server.url,
        "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'STEP_SUCCESS'",
        result.run_id,
    )
    assert step_events == [(2,)]
