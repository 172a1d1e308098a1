"""One dispatch point for the model assets: where a training reads its rows and where the registry is.

`training_session(engine, warehouse, spec, modeling, paths)` and `registry_session(engine, warehouse)`
are what defs/models_common.py's assets open first; they never ask which engine runs (as
spark_mode/steps.py for ingestion and staging):

| | duckdb | spark |
|---|---|---|
| registry (`ml.*`) | the warehouse | the lake, `<lake>/ml/` (spark_mode/lake_registry.py) |
| artifacts | `<shop home>/models` | `Engine.models_uri`, default `<lake>/_models` |
| training rows | the warehouse; with a sample set, a session of the sampled rows | a session of the sampled rows from the lake, chosen by Spark (spark_mode/training.py) |
| cut-off | the warehouse's last staged day | the lake's |

Both engines with the same sample read the same rows (ml/common/training_data.py), so they train
the same model. `engine` is the `Engine` resource (or anything with `is_spark`, `spark()`,
`settings().lake`, `training_sample()` and `models_location(paths)`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.training_data import (
    EVERY_CUSTOMER,
    TrainingSample,
    add_counts,
    sampled_tables,
    warehouse_session,
)
from shop_pipeline.ml.propensity.counts import duckdb_counts
from shop_pipeline.spark_mode.features import lake_summary_connection
from shop_pipeline.spark_mode.lake_registry import lake_registry
from shop_pipeline.spark_mode.training import lake_training_session


@dataclass(frozen=True)
class TrainingSession:
    """What a training asset works with."""

    registry: duckdb.DuckDBPyConnection  # where versions are registered and the champion is read
    data: duckdb.DuckDBPyConnection  # what spec.train reads
    as_of: dt.date
    models_dir: os.PathLike | str
    sample: TrainingSample  # EVERY_CUSTOMER: every row
    fingerprints: dict[str, str] | None = None  # of tables read as lake views (lifecycle.inputs_key)

    def settings(self) -> dict[str, Any]:
        """What the training key adds for the sample."""
        return self.sample.settings()


@contextlib.contextmanager
def registry_session(engine, warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection holding the registry: the warehouse's, or the lake's (published when the block ends)."""
    if engine is not None and engine.is_spark:
        with lake_registry(engine.settings().lake) as con:
            yield con
        return
    with warehouse.connection() as con:
        registry.ensure_registry_schema(con)
        yield con


def lake_as_of(lake: str, modeling) -> dt.date:
    """The cut-off in Spark mode: the run's, or the lake's last staged day."""
    with lake_summary_connection(lake, ["staging.events"]) as con:
        return modeling.resolve_as_of(con)


@contextlib.contextmanager
def training_session(engine, warehouse, spec, modeling, paths) -> Iterator[TrainingSession]:
    """The registry, the training rows, the cut-off and the artifacts' place of `spec`'s training (module docstring)."""
    sample = engine.training_sample() if engine is not None and spec.sampled_by_customer else EVERY_CUSTOMER
    if engine is not None and engine.is_spark:
        lake = engine.settings().lake
        as_of = lake_as_of(lake, modeling)
        with lake_registry(lake) as con:
            data, fingerprints = lake_training_session(engine.spark(), lake, spec, sample, as_of)
            try:
                yield TrainingSession(con, data, as_of, engine.models_location(paths), sample, fingerprints)
            finally:
                data.close()
        return
    models_dir = paths.models if engine is None else engine.models_location(paths)
    with warehouse.connection() as con:
        registry.ensure_registry_schema(con)
        as_of = modeling.resolve_as_of(con)
        if not sample.bounded:
            yield TrainingSession(con, con, as_of, models_dir, sample)
            return
        data, _ = warehouse_session(con, sampled_tables(spec), sample)
        try:
            if spec.fits_counts:
                add_counts(data, duckdb_counts(data, as_of))
            yield TrainingSession(con, data, as_of, models_dir, sample)
        finally:
            data.close()
