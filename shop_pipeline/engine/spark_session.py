"""Opening a Spark session from the engine settings, configured so that results do not depend on
the engine, the cluster or the machine (docs/cluster.md, "What stays the same").

How Spark is reached, first match wins: Spark Connect when $SPARK_REMOTE is set (sc://host:port,
a managed cluster's endpoint); else the master URL $SHOP_PIPELINE_SPARK_MASTER (spark://host:7077,
yarn, k8s://..., local[N]); else local[<cores of this process>], in this process's own JVM.

The fixed configuration (`ENGINE_INDEPENDENT_CONF`), set on every session, also over Connect:
- the session time zone is UTC, as every DuckDB session (sql/session.py): timestamps without an
  offset, date_trunc, date_format and the month partitions mean the same instants in both;
- partition overwrite is dynamic: an `INSERT OVERWRITE` / `mode("overwrite")` into a partitioned
  table replaces the partitions the data holds and leaves every other one (the lake's
  re-run-a-month contract, engine/layout.py);
- ANSI mode is on (Spark 4's default, set explicitly so a cluster's defaults cannot turn it off):
  a cast that cannot convert, an arithmetic overflow or an out-of-range date fails the statement,
  as DuckDB does, instead of silently giving NULL. Differences that remain and that the SQL must
  not rely on: division by zero (DuckDB's `/` gives inf, ANSI Spark fails: guard with NULLIF),
  and `try_cast` / `TRY(...)` are the explicit NULL-on-failure forms in each;
- Parquet timestamps are written as INT64 microseconds (DuckDB's precision, readable by every
  Parquet reader) and dates/timestamps are never rebased to the Julian calendar;
- the shuffle has few partitions on small data ($SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS, default 8),
  with adaptive execution coalescing them further.
Row order is never part of a result: every comparison and every written table sorts by its keys.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shop_pipeline.engine.settings import EngineSettings
from shop_pipeline.settings import ShopPaths, available_cores

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

APP_NAME = "shop_pipeline"

# Runtime SQL settings: set on every session, over Spark Connect as well.
ENGINE_INDEPENDENT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}

# Settings of the driver and executor JVMs: only where this process starts the driver (a master
# URL or local mode); a Spark Connect server has its own.
_UTC_JVM = "-Duser.timezone=UTC"


def session_conf(settings: EngineSettings) -> dict[str, str]:
    """The runtime settings every session gets (ENGINE_INDEPENDENT_CONF and the shuffle partitions)."""
    return {**ENGINE_INDEPENDENT_CONF, "spark.sql.shuffle.partitions": str(settings.shuffle_partitions)}


def master_url(settings: EngineSettings) -> str:
    """The master the driver starts with (local[<cores>] when none is set)."""
    return settings.spark_master or f"local[{available_cores()}]"


def _runs_on_this_machine(master: str) -> bool:
    """local[...] or a standalone master on a loopback address: the executors run here, so they
    can run this interpreter."""
    if master.startswith("local"):
        return True
    if not master.startswith("spark://"):
        return False
    hosts = [urlsplit("spark://" + part).hostname for part in master[len("spark://") :].split(",")]
    for host in hosts:
        try:
            if not ipaddress.ip_address(socket.gethostbyname(host or "")).is_loopback:
                return False
        except (OSError, ValueError):
            return False
    return True


def driver_conf(settings: EngineSettings) -> dict[str, str]:
    """Static settings of a driver this process starts: UTC JVMs, the UI switch, the Python
    executors run (this interpreter when they run on this machine, else $PYSPARK_PYTHON or the
    cluster's own)."""
    master = master_url(settings)
    conf = {
        "spark.driver.extraJavaOptions": _UTC_JVM,
        "spark.executor.extraJavaOptions": _UTC_JVM,
        "spark.ui.enabled": "true" if settings.spark_ui else "false",
        "spark.ui.showConsoleProgress": "false",
    }
    python = os.environ.get("PYSPARK_PYTHON") or (sys.executable if _runs_on_this_machine(master) else None)
    if python:
        conf["spark.pyspark.python"] = python
    return conf


def open_session(
    settings: EngineSettings | None = None, conf: Mapping[str, str] | None = None, app_name: str = APP_NAME
) -> SparkSession:
    """A Spark session as the settings say (Spark Connect, a master URL or local), with the
    engine-independent settings; `conf` adds or overrides settings (e.g. executor memory).

    With a master URL or local mode this process runs the driver, and PySpark allows one per
    process: a session already open here is returned as is (stop it first to change master:
    `stop_session`, or use `shared_session`, which does). A process uses Spark Connect or a driver
    of its own, not both (PySpark's rule): a run's steps all follow the same settings."""
    from pyspark.sql import SparkSession

    settings = settings or EngineSettings.from_env()
    _check_one_mode(settings)
    runtime = {**session_conf(settings)}
    extra = dict(conf or {})
    if settings.spark_remote:
        # a Connect server's static settings are its own: everything here is set on the session
        builder = SparkSession.builder.remote(settings.spark_remote).appName(app_name)
        runtime.update(extra)
    else:
        builder = SparkSession.builder.master(master_url(settings)).appName(app_name)
        static = {**driver_conf(settings), **extra}
        if "spark.pyspark.python" in static:
            # a driver started from Python takes its executors' Python from this variable only
            # (SparkContext.pythonExec); unset, they would run the first python3 on the PATH
            os.environ.setdefault("PYSPARK_PYTHON", static["spark.pyspark.python"])
        for key, value in static.items():
            builder = builder.config(key, value)
        runtime.update({key: value for key, value in extra.items() if key in runtime})
    session = builder.getOrCreate()
    for key, value in runtime.items():
        session.conf.set(key, value)
    return session


def _check_one_mode(settings: EngineSettings) -> None:
    """PySpark runs one way per process: a driver of its own (classic) or a Spark Connect client,
    fixed by the first session (Connect marks the process with SPARK_CONNECT_MODE_ENABLED and
    PySpark's functions follow it). Mixing them fails here, saying so, instead of deep in PySpark."""
    from pyspark import SparkContext

    if settings.spark_remote and SparkContext._active_spark_context is not None:
        raise RuntimeError(
            "this process already runs a Spark driver (a master URL or local mode): PySpark cannot also open a "
            f"Spark Connect session to {settings.spark_remote} in it; use one way into Spark per process"
        )
    if not settings.spark_remote and os.environ.get("SPARK_CONNECT_MODE_ENABLED"):
        raise RuntimeError(
            "this process has used Spark Connect: PySpark cannot start a driver of its own in it too; "
            "use one way into Spark per process"
        )
    running = SparkContext._active_spark_context
    if not settings.spark_remote and running is not None and running.master != master_url(settings):
        # PySpark's getOrCreate would silently hand back the running driver, on the other master
        raise RuntimeError(
            f"a Spark driver on {running.master} already runs in this process, not on {master_url(settings)}: "
            "stop it first (stop_session(), or use shared_session(), which switches)"
        )


@contextlib.contextmanager
def spark_session(
    settings: EngineSettings | None = None, conf: Mapping[str, str] | None = None, app_name: str = APP_NAME
) -> Iterator[SparkSession]:
    """A session for the block, stopped at its end (its executors are released on the cluster)."""
    session = open_session(settings, conf, app_name)
    try:
        yield session
    finally:
        session.stop()


# ------------------------------------------------------------------ one session per process

_lock = threading.Lock()
_shared: tuple[tuple, SparkSession] | None = None


def _key(settings: EngineSettings, conf: Mapping[str, str] | None) -> tuple:
    extra = tuple(sorted((conf or {}).items()))
    return (settings.spark_remote, master_url(settings), settings.shuffle_partitions, settings.spark_ui, *extra)


def shared_session(settings: EngineSettings | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The process's session for these settings, opened on first use and kept (a run's steps in
    one process share it: starting a driver costs seconds). Asking with other settings stops the
    old session first; asking without `conf` (the Engine resource) takes the session opened for the
    same settings with extra driver conf (the test cluster's executor sizes). `stop_session()` ends
    it; so does the process's exit."""
    global _shared
    settings = settings or EngineSettings.from_env()
    key = _key(settings, conf)
    with _lock:
        if _shared is not None:
            same = _shared[0] == key or (conf is None and _shared[0][: len(key)] == key)
            if same and _alive(_shared[1]):
                return _shared[1]
            _stop(_shared[1])
            _shared = None
        session = open_session(settings, conf)
        _shared = (key, session)
        return session


def lake_spark(paths: ShopPaths) -> SparkSession:
    """The shared session for the engine settings of the environment (what `forget` and the retention
    purge rewrite the lake with when they are given none)."""
    return shared_session(EngineSettings.from_env(paths))


def stop_session() -> None:
    """Stop the shared session, if any (idempotent)."""
    global _shared
    with _lock:
        if _shared is not None:
            _stop(_shared[1])
            _shared = None


def _alive(session: SparkSession) -> bool:
    try:
        if hasattr(session, "sparkContext") and not _is_connect(session):
            return not session.sparkContext._jsc.sc().isStopped()
        session.conf.get("spark.sql.session.timeZone")
        return True
    except Exception:  # a stopped or unreachable session: open a new one
        return False


def _is_connect(session: SparkSession) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")


def _stop(session: SparkSession) -> None:
    with contextlib.suppress(Exception):
        session.stop()
