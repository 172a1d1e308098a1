"""Demand prediction online: the forecast the batch used at the snapshot's cut-off, for one product and some days.

The snapshot holds what the batch forecast read (the served history of product_daily_sales and
the future frame with its price, promotion and ad-spend assumptions) and the artifact of the
version it forecast with (the champion; on a shop too new for a validated one, the version the
batch used). The history's panel is built once when the snapshot loads (data.prepare_origin);
a what-if request forecasts its product's rows of the future frame, with the price and promotion
it asks about in place of the assumed ones, through score.forecast_prepared: the function
the batch forecast and the backtest use. A request without a what-if asks for exactly what the
batch forecast computed: it is answered from scoring.demand_forecasts' rows (also in the snapshot),
which the model path reproduces to the last digit (shop_pipeline_tests/serving/test_demand.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.features.tables import future_product_days_frame, read_product_daily_sales
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.lifecycle import serving_candidate
from shop_pipeline.ml.common.snapshot_files import copy_artifact, scored_version, write_parquet
from shop_pipeline.ml.demand_forecast.candidates import MODEL_NAME, FittedForecaster
from shop_pipeline.ml.demand_forecast.data import HISTORY_COLUMNS, SERVING_HISTORY_DAYS, prepare_origin
from shop_pipeline.ml.demand_forecast.score import forecast_prepared


def export_demand(con: duckdb.DuckDBPyConnection, folder: Path, models_dir: Path) -> dict | None:
    """The artifact of the version that wrote scoring.demand_forecasts, the history and the future frame
    the batch forecast read; None when demand was not forecast."""
    scored = scored_version(con, "scoring.demand_forecasts", MODEL_NAME)
    if scored is None:
        return None
    scored_with, as_of = scored
    horizon = con.execute("SELECT count(DISTINCT day) FROM scoring.demand_forecasts").fetchone()[0]
    copy_artifact(scored_with, models_dir, folder / "demand_forecast.skops")
    history = read_product_daily_sales(con, as_of, as_of - dt.timedelta(days=SERVING_HISTORY_DAYS), HISTORY_COLUMNS)
    future = future_product_days_frame(con, as_of, int(horizon))
    history.to_parquet(folder / "demand_history.parquet", index=False)
    future.to_parquet(folder / "demand_future.parquet", index=False)
    batch_rows = write_parquet(
        con,
        "SELECT product_id, day, p10, p50, p90 FROM scoring.demand_forecasts "
        "WHERE model_version = $version ORDER BY product_id, day",
        folder / "demand_forecasts.parquet",
        {"version": scored_with.version},
    )
    return {
        "model_name": MODEL_NAME,
        "version": scored_with.version,
        "sha256": scored_with.sha256,
        "candidate": serving_candidate(scored_with, "challenger"),
        "champion": scored_with.is_champion,
        "as_of": as_of.isoformat(),
        "horizon_days": int(horizon),
        "rows": {"demand_history": len(history), "demand_future": len(future), "demand_forecasts": batch_rows},
    }


class UnknownProduct(LookupError):
    pass


class DayOutsideHorizon(ValueError):
    pass


@dataclass(frozen=True)
class DayForecast:
    day: dt.date
    p10: float
    p50: float
    p90: float
    shown_price: float
    promotion_pct: float


class DemandPredictor:
    def __init__(self, folder: Path, manifest: dict):
        self.version = manifest["version"]
        self.candidate = manifest["candidate"]
        self.as_of = dt.date.fromisoformat(manifest["as_of"])
        self.horizon_days = int(manifest["horizon_days"])
        self.fitted = FittedForecaster.from_artifact(
            registry.load_artifact(folder / "demand_forecast.skops", manifest["sha256"])
        )
        history = pd.read_parquet(folder / "demand_history.parquet")
        self.origin = prepare_origin(history, self.as_of, self.horizon_days)
        future = pd.read_parquet(folder / "demand_future.parquet")
        future["day"] = pd.to_datetime(future["day"])
        self._future = {
            product: rows.sort_values("day").reset_index(drop=True)
            for product, rows in future.groupby("product_id", sort=False)
        }
        self._batch = {}
        if (folder / "demand_forecasts.parquet").is_file():  # snapshots of earlier versions: the model path only
            batch = pd.read_parquet(folder / "demand_forecasts.parquet")
            batch["day"] = pd.to_datetime(batch["day"])
            self._batch = {
                product: rows.set_index("day")[["p10", "p50", "p90"]]
                for product, rows in batch.groupby("product_id", sort=False)
            }

    @property
    def last_day(self) -> dt.date:
        return self.as_of + dt.timedelta(days=self.horizon_days)

    @property
    def days(self) -> list[dt.date]:
        """The days a request may ask for: (as_of, last_day]."""
        return [self.as_of + dt.timedelta(days=i) for i in range(1, self.horizon_days + 1)]

    @property
    def example_product(self) -> str | None:
        """A product of the forecast (the smallest id), for the API document's example."""
        return min(self._future, default=None)

    def predict(
        self,
        product_id: str,
        days: list[dt.date],
        price: float | None = None,
        promotion_pct: float | None = None,
        from_model: bool = False,
    ) -> list[DayForecast]:
        """p10 / p50 / p90 per day; `price` (the price shown, after any promotion) and `promotion_pct`
        (0-100) replace the assumed ones on those days. With a promotion and no price, the price is
        the assumed regular price with that discount. Without either, the batch forecast's rows
        (unless `from_model`: the model path, for checking that it gives the same)."""
        rows = self._future.get(product_id)
        if rows is None:
            raise UnknownProduct(product_id)
        outside = [d for d in days if not (self.as_of < d <= self.last_day)]
        if outside:
            raise DayOutsideHorizon(outside[0])
        wanted = rows[rows["day"].isin(pd.to_datetime(sorted(set(days))))].reset_index(drop=True)
        stored = self._batch.get(product_id)
        if price is None and promotion_pct is None and not from_model and stored is not None:
            known = stored.reindex(wanted["day"])
            if not known.isna().any().any():
                return [
                    DayForecast(
                        day=d.date(),
                        p10=float(a),
                        p50=float(b),
                        p90=float(c),
                        shown_price=float(s),
                        promotion_pct=100.0 * float(0.0 if pd.isna(q) else q),
                    )
                    for d, (a, b, c), s, q in zip(
                        wanted["day"],
                        known.itertuples(index=False, name=None),
                        wanted["shown_price"],
                        wanted["promo_discount_pct"],
                    )
                ]
        if promotion_pct is not None:
            discount = float(promotion_pct) / 100.0  # the frame's promotions are fractions
            planned = wanted["promo_discount_pct"].fillna(0.0).to_numpy(np.float64)
            if price is None and (planned >= 1.0).any():
                raise ValueError(
                    "a 100% promotion is planned on one of these days, so the regular price is "
                    "unknown: give the price as well"
                )
            regular = wanted["shown_price"].to_numpy(np.float64) / (1.0 - np.minimum(planned, 0.99))
            wanted["promo_discount_pct"] = discount
            wanted["is_promo"] = discount > 0
            wanted["shown_price"] = regular * (1.0 - discount)
        if price is not None:
            wanted["shown_price"] = float(price)
        out = forecast_prepared(self.fitted, self.origin, wanted, candidate=self.candidate)
        # one product: both frames are in day order, row for row
        return [
            DayForecast(
                day=d.date(),
                p10=float(a),
                p50=float(b),
                p90=float(c),
                shown_price=float(s),
                promotion_pct=100.0 * float(0.0 if pd.isna(q) else q),
            )
            for (d, a, b, c), s, q in zip(
                out[["day", "p10", "p50", "p90"]].itertuples(index=False, name=None),
                wanted["shown_price"],
                wanted["promo_discount_pct"],
            )
        ]
