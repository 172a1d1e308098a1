"""SQL files, one statement each, with DuckDB named parameters ($name) for every value.

The warehouse tables' DDL is in tables/, one file per table, read by ddl.py.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
