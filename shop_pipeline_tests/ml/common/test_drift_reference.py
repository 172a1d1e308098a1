import math

import numpy as np
import pandas as pd

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.drift_reference import champion_reference
from shop_pipeline.ml.common.psi import psi_against
from shop_pipeline.warehouse.connection import connect


def _frames():
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"a": rng.normal(0, 1, 4000), "b": rng.integers(0, 4, 4000).astype(float)})
    current = pd.DataFrame({"a": rng.normal(0.4, 1.2, 900), "b": rng.integers(1, 6, 900).astype(float)})
    reference.loc[::9, "a"] = np.nan
    return reference, current


def test_a_champion_reference_is_binned_once_and_read_back(tmp_path):
    reference, current = _frames()
    samples = []

    def sample():
        samples.append(1)
        return reference

    with connect(tmp_path / "w.duckdb") as con:
        registry.ensure_registry_schema(con)
        first = champion_reference(con, "m", "v1", 10, ["a", "b"], sample)
        again = champion_reference(con, "m", "v1", 10, ["a", "b"], sample)
        assert len(samples) == 1  # the second measurement read the stored bins
        assert psi_against(again, current) == psi_against(first, current)
        champion_reference(con, "m", "v2", 10, ["a", "b"], sample)  # a new champion: binned anew
        champion_reference(con, "m", "v1", 5, ["a", "b"], sample)  # other bins: binned anew
        assert len(samples) == 3
        assert con.execute("SELECT count(*) FROM ml.drift_references").fetchone()[0] == 6


def test_a_reference_without_values_is_not_kept(tmp_path):
    reference = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3})
    with connect(tmp_path / "w.duckdb") as con:
        registry.ensure_registry_schema(con)
        [_, b] = champion_reference(con, "m", "v1", 10, ["a", "b"], lambda: reference)
        assert b.rows == 0 and math.isnan(psi_against([b], pd.DataFrame({"b": [1.0]}))[0].psi)
        assert con.execute("SELECT count(*) FROM ml.drift_references").fetchone()[0] == 0
