"""The DuckDB session every connection gets: UTC, bounded memory, the machine's cores, a spill folder.

Below the warehouse (sources/ prepare their own DuckDB sessions with it too); connection.py opens
the warehouse file with it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from shop_pipeline.settings import available_cores

# The Warehouse resource's memory_limit and threads when set (resources.py); here the default of
# connections opened without one (the CLI's import, retract and summary).
MEMORY_LIMIT_ENV = "SHOP_PIPELINE_DUCKDB_MEMORY_LIMIT"
THREADS_ENV = "SHOP_PIPELINE_DUCKDB_THREADS"
MAX_MEMORY_LIMIT_MIB = 2048  # the process stays under 3 GiB with Python, Dagster and GX beside it
TEMP_FOLDER = "duckdb_tmp"


def machine_memory_limit() -> str:
    """A quarter of the machine's memory, at most 2 GiB, at least 256 MiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024**3
    return f"{max(256, min(MAX_MEMORY_LIMIT_MIB, total // 4 // 1024**2))}MB"


def prepare_session(
    con: duckdb.DuckDBPyConnection,
    temp_directory: Path | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> None:
    """UTC timestamps, bounded memory and the machine's cores for every session.

    Timestamps without an offset are read as UTC, whatever the machine's time zone (set after
    connecting: as a connect-time option it needs ICU before it is loaded). DuckDB would
    otherwise take up to 80% of RAM; with a limit (`memory_limit`, else
    $SHOP_PIPELINE_DUCKDB_MEMORY_LIMIT, else a quarter of the machine's memory, at most 2 GiB)
    it spills to `temp_directory` (next to the warehouse, under the shop home). Threads:
    `threads`, else $SHOP_PIPELINE_DUCKDB_THREADS, else the cores this process may use.
    """
    con.execute("SET TimeZone = 'UTC'")
    limit = memory_limit or os.environ.get(MEMORY_LIMIT_ENV) or machine_memory_limit()
    con.execute("SET memory_limit = " + _quote_setting(limit))
    if threads is None:
        raw = os.environ.get(THREADS_ENV)
        if raw and not raw.strip().isdigit():
            raise ValueError(f"{THREADS_ENV}={raw!r} is not a number of threads")
        threads = int(raw) if raw else available_cores()
    if int(threads) < 1:
        raise ValueError(f"DuckDB threads must be at least 1, got {threads}")
    con.execute(f"SET threads = {int(threads)}")
    if temp_directory is not None:
        con.execute("SET temp_directory = " + _quote_path(temp_directory))


def _quote_path(path: Path) -> str:
    """A folder as a SQL literal (SET takes no parameters): quotes doubled."""
    return "'" + str(path).replace("'", "''") + "'"


def _quote_setting(value: str) -> str:
    """A size setting like '3GB' as a SQL literal (validated, since SET takes no parameters)."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip(), flags=re.IGNORECASE):
        raise ValueError(f"DuckDB memory_limit {value!r} is not a size like 3GB")
    return "'" + value.strip() + "'"
