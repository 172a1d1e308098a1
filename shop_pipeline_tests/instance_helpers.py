"""A real Dagster instance with the shop's dagster.yaml, and runs written into it as a killed or a
running `shop-pipeline run` leaves them (a RUN_START event with the run's pid, a pool slot)."""

from __future__ import annotations

import socket

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EventLogEntry,
)

from shop_pipeline.instance import DAGSTER_YAML, HOST_TAG

POOL = "duckdb"


@pytest.fixture
def instance(tmp_path):
    """A Dagster instance from the shop's dagster.yaml, with room for ten slots in the duckdb pool."""
    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    with DagsterInstance.from_config(str(tmp_path)) as dagster_instance:
        dagster_instance.event_log_storage.set_concurrency_slots(POOL, 10)
        yield dagster_instance


def add_run(
    instance,
    pid: int | None,
    started_at: float,
    status=DagsterRunStatus.STARTED,
    tags=None,
    job_name="full_pipeline",
    claim=True,
    start=True,
) -> str:
    run = instance.add_run(
        DagsterRun(job_name=job_name, status=status, tags={HOST_TAG: socket.gethostname()} if tags is None else tags)
    )
    if start:
        event = DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=job_name, pid=pid)
        instance.store_event(
            EventLogEntry(
                error_info=None,
                level=20,
                user_message="",
                run_id=run.run_id,
                timestamp=started_at,
                dagster_event=event,
                job_name=job_name,
            )
        )
    if claim:
        instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, f"step_of_{run.run_id[:8]}")
    return run.run_id


def slot_holders(instance) -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots}
