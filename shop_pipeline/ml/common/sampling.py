"""A deterministic, bounded training sample: the same ids in DuckDB, in Spark and in Python (no Dagster).

Training on a cluster reads a sample onto the driver. Which ids are in it must not depend on the
engine, the number of partitions, the order rows arrive in or the run, so that a model trained in
Spark mode is the model DuckDB mode trains on the same data (the parity test), and a re-run reads
the same rows. A sample is therefore chosen by a **stable hash of the id**:

    id_hash(id) = the first 15 hex digits of md5(the UTF-8 bytes of id), read as an integer

a number in [0, 2^60): a BIGINT in both engines, an `int` in Python. Both engines have md5 over
UTF-8 bytes (DuckDB `md5(VARCHAR)`, Spark `md5(CAST(... AS BINARY))`, which is what `md5(string)`
does), and both read 15 hex digits into a BIGINT without loss (DuckDB `CAST('0x...' AS BIGINT)`,
Spark `conv(..., 16, 10)`). DuckDB's `hash()` and Spark's `hash()` / `xxhash64()` are not used:
they differ between the engines (and DuckDB's between versions). A NULL id has no hash and is
never in a sample.

An id is kept when its hash is below a **threshold**:

- a fraction f keeps `id_hash < floor(f x 2^60)` (`fraction_threshold`): about f of the ids, the
  same ones whatever else the data holds, so a sample grows with the data and an id once in stays in;
- at most N ids keeps the N smallest hashes: the threshold is the hash of the (N+1)-th distinct
  id in hash order (2^60 when there are N or fewer), and `id_hash < threshold` keeps at most N
  (fewer only if two ids share a 60-bit hash, which rounds down, never up);
- both: the smaller threshold.

The threshold is found by the engine that holds the ids (`duckdb_threshold`, `spark_threshold`:
a top-(N+1) of the distinct ids, so only N+1 numbers travel) and then applied as an integer
literal, so the kept set is identical in every engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HEX_DIGITS = 15
HASH_SPACE = 16**HEX_DIGITS  # 2^60: every id_hash is below it; a threshold of HASH_SPACE keeps every id


def id_hash(value: str) -> int:
    """The stable hash of one id (module docstring): md5 of its UTF-8 bytes, the first 15 hex digits."""
    return int(hashlib.md5(value.encode("utf-8")).hexdigest()[:HEX_DIGITS], 16)


def duckdb_hash(expression: str) -> str:
    """DuckDB SQL of id_hash(`expression`), a VARCHAR expression (BIGINT; NULL for NULL)."""
    return f"CAST(('0x' || substr(md5(CAST({expression} AS VARCHAR)), 1, {HEX_DIGITS})) AS BIGINT)"


def spark_hash(expression: str) -> str:
    """Spark SQL of id_hash(`expression`), a string expression (BIGINT; NULL for NULL)."""
    return f"CAST(conv(substr(md5(CAST({expression} AS STRING)), 1, {HEX_DIGITS}), 16, 10) AS BIGINT)"


def spark_hash_column(column: Any) -> Any:
    """id_hash of a Spark column (a Column or a column name) as a Column."""
    from pyspark.sql import functions as F

    column = F.col(column) if isinstance(column, str) else column
    return F.conv(F.substring(F.md5(column.cast("string")), 1, HEX_DIGITS), 16, 10).cast("bigint")


@dataclass(frozen=True)
class Sample:
    """Which ids a training run reads: by the hash of `key` (customer_id, user_id, order_id ...),
    at most `max_ids` ids and / or about `fraction` of them; neither: every id."""

    key: str
    max_ids: int | None = None
    fraction: float | None = None

    def __post_init__(self) -> None:
        if self.max_ids is not None and (isinstance(self.max_ids, bool) or int(self.max_ids) != self.max_ids):
            raise ValueError(f"max_ids must be a whole number, got {self.max_ids!r}")
        if self.max_ids is not None and self.max_ids < 0:
            raise ValueError(f"max_ids must be >= 0, got {self.max_ids}")
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be within [0, 1], got {self.fraction}")

    @property
    def bounded(self) -> bool:
        return self.max_ids is not None or (self.fraction is not None and self.fraction < 1.0)

    def describe(self) -> str:
        parts = []
        if self.max_ids is not None:
            parts.append(f"at most {self.max_ids:,} ids")
        if self.fraction is not None:
            parts.append(f"about {self.fraction:.4g} of the ids")
        what = " and ".join(parts) if parts else "every id"
        return f"{what} by the md5 hash of {self.key}"


def fraction_threshold(fraction: float | None) -> int:
    """The threshold that keeps about `fraction` of the ids (HASH_SPACE for None or 1)."""
    if fraction is None or fraction >= 1.0:
        return HASH_SPACE
    if fraction <= 0.0:
        return 0
    return int(fraction * HASH_SPACE)


def _combined(sample: Sample, nth_hash: int | None) -> int:
    """The sample's threshold from the hash of the (max_ids + 1)-th id (None: there are not that many)."""
    by_count = HASH_SPACE if nth_hash is None else nth_hash
    return min(by_count, fraction_threshold(sample.fraction))


def python_threshold(ids: Iterable[str | None], sample: Sample) -> int:
    """The sample's threshold over `ids` (duplicates and None ignored)."""
    if sample.max_ids is None:
        return fraction_threshold(sample.fraction)
    hashes = sorted(id_hash(i) for i in {i for i in ids if i is not None})
    return _combined(sample, hashes[sample.max_ids] if len(hashes) > sample.max_ids else None)


def python_keep(ids: Iterable[str | None], threshold: int) -> list[bool]:
    return [i is not None and id_hash(i) < threshold for i in ids]


def duckdb_threshold(con: Any, source: str, sample: Sample, parameters: Any = None) -> int:
    """The sample's threshold over the ids `sample.key` of the DuckDB `source` (a table name, a view or
    a `read_parquet(...)` call; `parameters` for a parameterised source)."""
    if sample.max_ids is None:
        return fraction_threshold(sample.fraction)
    key = _duckdb_identifier(sample.key)
    h = duckdb_hash(f"ids.{key}")
    query = (
        f"SELECT {h} AS h FROM (SELECT DISTINCT {key} FROM {source} WHERE {key} IS NOT NULL) AS ids "
        f"ORDER BY h LIMIT 1 OFFSET {int(sample.max_ids)}"
    )
    row = con.execute(query, parameters).fetchone()
    return _combined(sample, None if row is None else int(row[0]))


def duckdb_condition(expression: str, threshold: int) -> str:
    """DuckDB SQL that is true for the rows whose id `expression` is in the sample of `threshold`."""
    return f"{duckdb_hash(expression)} < {int(threshold)}"


def duckdb_sample(con: Any, source: str, sample: Sample, parameters: Any = None) -> tuple[str, int]:
    """(SQL of the rows of `source` in the sample, the threshold)."""
    threshold = duckdb_threshold(con, source, sample, parameters)
    condition = duckdb_condition(_duckdb_identifier(sample.key), threshold)
    return f"SELECT * FROM {source} WHERE {condition}", threshold


def spark_threshold(frame: Any, sample: Sample) -> int:
    """The sample's threshold over the ids `sample.key` of the Spark DataFrame `frame`: the
    (max_ids + 1) smallest hashes of the distinct ids (a top-k, not a sort of every id)."""
    if sample.max_ids is None:
        return fraction_threshold(sample.fraction)
    from pyspark.sql import functions as F

    ids = frame.select(F.col(sample.key).alias("id")).where(F.col("id").isNotNull()).distinct()
    smallest = ids.select(spark_hash_column("id").alias("h")).orderBy("h").limit(int(sample.max_ids) + 1)
    n, largest = smallest.agg(F.count("h"), F.max("h")).first()
    return _combined(sample, int(largest) if n > sample.max_ids else None)


def spark_condition(column: Any, threshold: int) -> Any:
    """A Spark Column that is true for the rows whose id `column` is in the sample of `threshold`."""
    from pyspark.sql import functions as F

    return spark_hash_column(column) < F.lit(int(threshold)).cast("bigint")


def spark_sample(frame: Any, sample: Sample) -> tuple[Any, int]:
    """(the rows of the Spark DataFrame `frame` in the sample, the threshold)."""
    threshold = spark_threshold(frame, sample)
    if threshold >= HASH_SPACE:
        return frame.where(frame[sample.key].isNotNull()), threshold
    return frame.where(spark_condition(sample.key, threshold)), threshold


def _duckdb_identifier(name: str) -> str:
    if "\x00" in name:
        raise ValueError("an identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'
