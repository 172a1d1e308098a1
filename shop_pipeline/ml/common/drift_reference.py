"""A champion's drift reference, binned once and kept (no Dagster).

PSI compares today's sample with the champion's reference sample through the reference's
quantile bins (ml/common/psi.py). The reference of a champion (its training window, scored by it)
does not move while it is champion, but computing it means recomputing point-in-time
features and scoring tens of thousands of rows: most of a daily drift measurement. So the
first measurement of a champion bins its reference and stores the inner edges and the share
of each bin in `ml.drift_references` (one row per model version, bin count and feature);
later measurements read them. The reference is then the one the champion was first measured
against, whatever lands for those days later: a fixed yardstick, as a reference should be.

A reference with a feature that has no values is not stored (that feature would be "not
measurable" for the champion's whole life); it is recomputed at each measurement instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.ml.common.psi import ReferenceBins, reference_bins
from shop_pipeline.warehouse.connection import transaction


def champion_reference(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    version: str,
    bins: int,
    columns: Sequence[str],
    sample: Callable[[], pd.DataFrame],
) -> list[ReferenceBins]:
    """The stored reference of (model_name, version, bins) for `columns`; when it is missing, the
    reference binned from `sample()` (stored when every column has values)."""
    stored = con.execute(
        "SELECT feature, edges, shares, reference_rows FROM ml.drift_references "
        "WHERE model_name = ? AND version = ? AND bins = ?",
        [model_name, version, bins],
    ).fetchall()
    by_feature = {
        f: ReferenceBins(f, np.asarray(e, dtype=np.float64), np.asarray(s, dtype=np.float64), int(n))
        for f, e, s, n in stored
    }
    if all(c in by_feature for c in columns):
        return [by_feature[c] for c in columns]
    reference = reference_bins(sample(), columns, bins)
    if all(r.rows for r in reference):
        with transaction(con):
            con.executemany(
                "INSERT OR REPLACE INTO ml.drift_references "
                "(model_name, version, bins, feature, edges, shares, reference_rows, binned_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                [
                    [model_name, version, bins, r.feature, r.edges.tolist(), r.shares.tolist(), r.rows]
                    for r in reference
                ],
            )
    return reference
