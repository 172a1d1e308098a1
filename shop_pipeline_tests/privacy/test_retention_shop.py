"""Retention on a fully built, pseudonymised shop, through Dagster: the schedule's decision, and the
expired_events asset, after which the customers and sessions that had only expired events are in no
file under the home (decoded values too), no row anywhere is dated before the cut-off, conservation
holds, and re-landing the old files then rebuilding the features brings nothing back."""

import datetime as dt
import shutil

import duckdb
import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_schedule_context, materialize

from shop_pipeline.defs.privacy import expired_events, retention_schedule
from shop_pipeline.pseudonyms import PSEUDONYM_KEY_FILE_ENV, pseudonymiser_from_env
from shop_pipeline.resources import Retention, ShopHome, default_resources
from shop_pipeline.settings import RETENTION_DAYS_ENV, ShopPaths
from shop_pipeline_tests.landing_fixtures import write_events
from shop_pipeline_tests.privacy.conftest import copied, shop_command
from shop_pipeline_tests.privacy.scan import landed_ids, search_home

pytestmark = pytest.mark.timeout(2400)  # the shared shop's build runs the whole pipeline on a busy machine
RETENTION_DAYS = 30
TICK = dt.datetime(2025, 3, 10, 5, 0, tzinfo=dt.UTC)


def _tick(shop: ShopPaths, retention_days: int | None, tmp_path):
    with (
        DagsterInstance.local_temp(str(tmp_path)) as instance,
        build_schedule_context(
            instance=instance,
            scheduled_execution_time=TICK,
            resources={"shop": ShopHome(home=str(shop.home)), "retention": Retention(retention_days=retention_days)},
        ) as context,
    ):
        return retention_schedule(context)


def test_the_schedule_purges_once_a_day_when_retention_is_set(tmp_path, monkeypatch):
    shop = ShopPaths.at(tmp_path / "home").ensure()
    off = _tick(shop, None, tmp_path)
    assert isinstance(off, SkipReason) and "retention is off" in off.skip_message
    empty = _tick(shop, RETENTION_DAYS, tmp_path)
    assert isinstance(empty, SkipReason) and "nothing to purge" in empty.skip_message
    write_events(shop.landing, "events_2025-01-02.csv", [])
    request = _tick(shop, RETENTION_DAYS, tmp_path)
    assert isinstance(request, RunRequest)
    assert request.run_key == "retention-2025-02-08"  # one purge per cut-off day: 30 days before the tick
    assert request.run_config == {"ops": {"expired_events": {"config": {"now": TICK.isoformat()}}}}
    # the setting is the `retention` resource's field, from its environment variable (the UI shows its name)
    monkeypatch.setenv(RETENTION_DAYS_ENV, "45")
    field = default_resources(shop)["retention"].retention_days
    assert field.env_var_name == RETENTION_DAYS_ENV and field.get_value() == 45


def test_the_purge_leaves_no_trace_of_expired_events_and_relanded_files_bring_none_back(
    pseudonymised_shop, key_file, tmp_path, monkeypatch
):
    shop = copied(pseudonymised_shop, tmp_path / "home")
    originals = tmp_path / "originals"
    shutil.copytree(shop.landing, originals)
    monkeypatch.setenv(PSEUDONYM_KEY_FILE_ENV, str(key_file))
    pseudonymiser = pseudonymiser_from_env()
    with duckdb.connect(str(shop.warehouse), read_only=True) as con:
        first_day = con.execute("SELECT min(partition_date) FROM raw.events").fetchone()[0]
        cutoff = first_day + dt.timedelta(days=12)
        # the customers and sessions all of whose landed rows expire (by their file's day or their time)
        only_old = {
            i
            for (i,) in con.execute(
                """SELECT id FROM (SELECT user_id AS id, partition_date AS day, event_time FROM raw.events
                                   UNION ALL SELECT session_id, partition_date, event_time FROM raw.events)
                   WHERE id IS NOT NULL GROUP BY id
                   HAVING bool_and(day < $cutoff OR coalesce(
                       make_timestamp(epoch_us(try_cast(event_time AS TIMESTAMPTZ))) < $cutoff, false))""",
                {"cutoff": cutoff},
            ).fetchall()
        }
    clear_of = {pseudonymiser(i): i for i in landed_ids(shop.landing)}
    needles = only_old | {clear_of[p] for p in only_old if p in clear_of}
    assert len(only_old) > 20 and search_home(shop.home, needles, skip=("ground_truth",))

    now = dt.datetime.combine(cutoff, dt.time(5)) + dt.timedelta(days=RETENTION_DAYS)
    result = materialize(
        [expired_events],
        resources={"shop": ShopHome(home=str(shop.home)), "retention": Retention(retention_days=RETENTION_DAYS)},
        run_config={"ops": {"expired_events": {"config": {"now": now.isoformat()}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("expired_events")[0].metadata
    assert metadata["cutoff"].value == cutoff.isoformat() and metadata["customers_gone"].value > 0

    assert search_home(shop.home, needles, skip=("ground_truth",)) == []
    with duckdb.connect(str(shop.warehouse), read_only=True) as con:
        for table, column in (
            ("raw.events", "partition_date"),
            ("staging.events", "event_time"),
            ("staging.quarantined_events", "partition_date"),
            ("features.product_daily_sales", "day"),
            ("features.order_features", "order_time"),
            ("scoring.order_risk_scores", "order_time"),
        ):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE {column} < ?", [cutoff]).fetchone()[0] == 0, table
        assert _conservation_breaks(con) == []
    assert sorted(p.name for p in (shop.landing / "events").iterdir() if p.name < f"events_{cutoff}") == []

    # the old files land again; then the features are rebuilt from what remains
    for original in (originals / "events").iterdir():
        shutil.copy(original, shop.landing / "events" / original.name)
        shutil.copy(original, shop.landing / "events" / f"replay-{original.name}")
    shop_command(shop.home, key_file, "run", "--groups", "ingestion,staging,features")
    assert search_home(shop.home, only_old, skip=("ground_truth", "landing")) == []
    with duckdb.connect(str(shop.warehouse), read_only=True) as con:
        assert con.execute("SELECT min(first_seen) FROM features.customer_features").fetchone()[0] >= dt.datetime(
            cutoff.year, cutoff.month, cutoff.day
        )
        assert con.execute("SELECT count(*) FROM staging.events WHERE event_time < ?", [cutoff]).fetchone()[0] == 0
        assert con.execute("SELECT sum(rows_erased) FROM raw.ingested_files").fetchone()[0] > 0
        assert _conservation_breaks(con) == []


def _conservation_breaks(con) -> list:
    return con.execute(
        "SELECT path FROM raw.ingested_files WHERE status NOT IN ('failed', 'retracted', 'expired') "
        "AND rows_read <> rows_clean + rows_quarantined + rows_duplicate + coalesce(rows_erased, 0)"
    ).fetchall()
