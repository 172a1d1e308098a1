"""A champion's drift reference, binned once and kept (no Dagster).

PSI compares today's sample with the champion's reference sample through the reference's
quantile bins (ml/drift.py). The reference of a champion (its training window, scored by it)
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
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.ml.drift import FeatureDrift, _clean, bin_shares, psi_from_shares, quantile_edges
from shop_pipeline.warehouse.connection import transaction


@dataclass(frozen=True)
class ReferenceBins:
    feature: str
    edges: np.ndarray    # inner edges (right-closed bins); empty when rows == 0
    shares: np.ndarray   # share of the reference in each of len(edges) + 1 bins
    rows: int            # reference values (NaN dropped)


def reference_bins(reference: pd.DataFrame, columns: Sequence[str], bins: int) -> list[ReferenceBins]:
    """The bins and shares of each column of `reference` (see drift.quantile_edges)."""
    out = []
    for column in columns:
        values = _clean(reference[column].to_numpy(dtype=np.float64, na_value=np.nan))
        if values.size == 0:
            out.append(ReferenceBins(column, np.array([]), np.array([]), 0))
            continue
        edges = quantile_edges(values, bins)
        out.append(ReferenceBins(column, edges, bin_shares(values, edges), int(values.size)))
    return out


def psi_against(reference: Sequence[ReferenceBins], current: pd.DataFrame) -> list[FeatureDrift]:
    """PSI of each reference feature in `current` (NaN when a side has no values), as
    drift.psi_by_column gives it for the reference sample itself."""
    out = []
    for ref in reference:
        values = _clean(current[ref.feature].to_numpy(dtype=np.float64, na_value=np.nan))
        value = psi_from_shares(ref.shares, bin_shares(values, ref.edges)) if ref.rows and values.size else float("nan")
        out.append(FeatureDrift(ref.feature, value, ref.rows, int(values.size)))
    return out


def champion_reference(con: duckdb.DuckDBPyConnection, model_name: str, version: str, bins: int,
                       columns: Sequence[str], sample: Callable[[], pd.DataFrame]) -> list[ReferenceBins]:
    """The stored reference of (model_name, version, bins) for `columns`; when it is missing, the
    reference binned from `sample()` (stored when every column has values)."""
    stored = con.execute(
        "SELECT feature, edges, shares, reference_rows FROM ml.drift_references "
        "WHERE model_name = ? AND version = ? AND bins = ?", [model_name, version, bins]).fetchall()
    by_feature = {f: ReferenceBins(f, np.asarray(e, dtype=np.float64), np.asarray(s, dtype=np.float64), int(n))
                  for f, e, s, n in stored}
    if all(c in by_feature for c in columns):
        return [by_feature[c] for c in columns]
    reference = reference_bins(sample(), columns, bins)
    if all(r.rows for r in reference):
        with transaction(con):
            con.executemany(
                "INSERT OR REPLACE INTO ml.drift_references "
                "(model_name, version, bins, feature, edges, shares, reference_rows, binned_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)",
                [[model_name, version, bins, r.feature, r.edges.tolist(), r.shares.tolist(), r.rows]
                 for r in reference])
    return reference
