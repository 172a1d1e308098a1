"""Population stability index (PSI): how far a distribution moved from its reference (plain maths, no
warehouse; the measurement on the warehouse is ml/drift.py, the stored references ml/common/drift_reference.py).

    PSI = sum over bins of (current_share - reference_share) * ln(current_share / reference_share)

Bins come from the reference: its quantiles at 1/bins, 2/bins, ... are the inner edges (bins
are right-closed: (-inf, e1], (e1, e2], ..., (ek, +inf)), so each reference bin holds about the
same share and a tail that appears only in the current data lands in an outer bin. Repeated
edges (a column with few distinct values) collapse into one, so a constant reference gives two
bins: "at or below the constant" and "above it".

Edge cases, documented behaviour:
- NaN / None values are dropped from both sides before binning.
- an empty reference or current sample (after dropping NaN): `psi` raises ValueError; the
  caller reports the feature as not measurable instead of inventing a number.
- a bin that is empty on one side would make the logarithm infinite: shares are floored at
  `SHARE_FLOOR` (1e-4) before the formula, a common convention; the value stays finite.
- identical samples give 0.0.

Reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major shift (the usual
rule of thumb; the retraining trigger's threshold is configurable).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SHARE_FLOOR = 1e-4
DEFAULT_BINS = 10
MODERATE_SHIFT = 0.1
MAJOR_SHIFT = 0.25


def _clean(values: Iterable[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    return array[~np.isnan(array)]


def quantile_edges(reference: Iterable[float] | np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Inner bin edges: the reference's quantiles at 1/bins .. (bins-1)/bins, duplicates removed.

    With bins=1, or a sample whose quantiles all coincide, the result has at most one edge.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    values = _clean(reference)
    if values.size == 0:
        raise ValueError("the reference sample is empty: no bins can be defined")
    if bins == 1:
        return np.array([], dtype=np.float64)
    return np.unique(np.quantile(values, np.arange(1, bins) / bins))


def bin_shares(values: Iterable[float] | np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each right-closed bin defined by `edges` (len(edges) + 1 bins)."""
    sample = _clean(values)
    if sample.size == 0:
        raise ValueError("the sample is empty: no shares can be computed")
    index = np.searchsorted(edges, sample, side="left")  # x <= edges[0] -> bin 0
    counts = np.bincount(index, minlength=len(edges) + 1)
    return counts / sample.size


def psi_from_shares(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    reference = np.maximum(np.asarray(reference_shares, dtype=np.float64), SHARE_FLOOR)
    current = np.maximum(np.asarray(current_shares, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((current - reference) * np.log(current / reference)))


def psi(
    reference: Iterable[float] | np.ndarray, current: Iterable[float] | np.ndarray, bins: int = DEFAULT_BINS
) -> float:
    """PSI of `current` against `reference`, with bins at the reference's quantiles."""
    edges = quantile_edges(reference, bins)
    return psi_from_shares(bin_shares(reference, edges), bin_shares(current, edges))


def shift_label(value: float) -> str:
    if math.isnan(value):
        return "not measurable"
    if value > MAJOR_SHIFT:
        return "major shift"
    if value >= MODERATE_SHIFT:
        return "moderate shift"
    return "stable"


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float  # NaN when one side had no values
    reference_rows: int
    current_rows: int

    @property
    def label(self) -> str:
        return shift_label(self.psi)


@dataclass(frozen=True)
class ReferenceBins:
    feature: str
    edges: np.ndarray  # inner edges (right-closed bins); empty when rows == 0
    shares: np.ndarray  # share of the reference in each of len(edges) + 1 bins
    rows: int  # reference values (NaN dropped)


def reference_bins(reference: pd.DataFrame, columns: Sequence[str], bins: int) -> list[ReferenceBins]:
    """The bins and shares of each column of `reference` (see quantile_edges)."""
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
    """PSI of each reference feature in `current` (NaN when a side has no values): what
    psi_by_column gives for the reference sample itself."""
    out = []
    for ref in reference:
        values = _clean(current[ref.feature].to_numpy(dtype=np.float64, na_value=np.nan))
        value = psi_from_shares(ref.shares, bin_shares(values, ref.edges)) if ref.rows and values.size else float("nan")
        out.append(FeatureDrift(ref.feature, value, ref.rows, int(values.size)))
    return out


def psi_by_column(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str], bins: int = DEFAULT_BINS
) -> list[FeatureDrift]:
    """PSI of each column; a column with no values on one side gets NaN (not measurable)."""
    return psi_against(reference_bins(reference, columns, bins), current)


def drift_markdown(rows: Sequence[FeatureDrift]) -> str:
    lines = ["| feature | PSI | reading | reference rows | current rows |", "|---|---|---|---|---|"]
    for row in rows:
        shown = "n/a" if math.isnan(row.psi) else f"{row.psi:.4f}"
        lines.append(f"| {row.feature} | {shown} | {row.label} | {row.reference_rows} | {row.current_rows} |")
    return "\n".join(lines)
