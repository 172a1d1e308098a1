"""A transaction-only shop without a catalog whose prices fall over time, as invoice lines.

The shape of public invoice logs (Online Retail II): purchases only (no views, no carts), no
product catalog, no promotions file, no ad spend; each product's price is cut every
`price_step_days` until it is `price_fall` lower at the end, and demand follows the price
(elasticity) and the weekday, and cheap products sell more than dear ones (so a model learns
that a high price means few units). A few lines are keyed at `outlier_factor` x the price
(corrections, wholesale lines), so the highest price ever seen is far above the price a
customer pays: a forecast that assumes the highest price for the coming days fails here.

`generate_falling_price_shop` returns the invoice lines in the Online Retail II layout (write
them with `write_invoices` and land them with the online_retail adapter) and the true units
per product and day over every day, the days after a cut-off included, so a test or a
benchmark can land the days up to a cut-off and score the forecast of the days after it.
Seeded: the same config gives the same lines.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

INVOICE_COLUMNS = ("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country")
WEEKDAY_DEMAND = (1.0, 1.05, 1.1, 1.15, 1.0, 0.7, 0.6)  # Monday .. Sunday


@dataclass(frozen=True)
class FallingPriceConfig:
    products: int = 60
    days: int = 112
    start: dt.date = dt.date(2025, 1, 6)  # a Monday, inside the default partitions (from 2025-01-01)
    customers: int = 400
    median_orders_per_day: float = 0.8  # per product, before the weekday and price effects
    demand_spread: float = 1.0  # log-sd of the products' order rates (slow and fast movers)
    price_fall: float = 0.5  # the last price is this share below the first
    price_step_days: int = 14  # prices are cut in steps, each product on its own days
    elasticity: float = 1.2  # orders x (price / first price) ** -elasticity
    price_level_effect: float = 1.0  # cheap products sell more: orders x (first price / median) ** -effect
    outlier_share: float = 0.01  # lines keyed at outlier_factor x the price
    outlier_factor: float = 20.0
    seed: int = 0


def _price_paths(cfg: FallingPriceConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(P,) first prices and (P, D) prices: equal cuts every price_step_days, each product offset."""
    first = np.round(np.exp(rng.normal(np.log(8.0), 0.8, cfg.products)), 2).clip(0.5)
    steps = max(1, (cfg.days - 1) // cfg.price_step_days)
    offset = rng.integers(0, cfg.price_step_days, cfg.products)
    t = np.arange(cfg.days)
    cuts = np.minimum((t[None, :] + offset[:, None]) // cfg.price_step_days, steps)
    prices = first[:, None] * (1.0 - cfg.price_fall * cuts / steps)
    return first, np.round(prices, 2)


def generate_falling_price_shop(cfg: FallingPriceConfig = FallingPriceConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(invoice lines with INVOICE_COLUMNS, sorted by time; daily units: product_id, day, units, price)."""
    rng = np.random.default_rng(cfg.seed)
    first, prices = _price_paths(cfg, rng)
    rate = np.exp(rng.normal(np.log(cfg.median_orders_per_day), cfg.demand_spread, cfg.products))
    rate = rate * (first / np.median(first)) ** -cfg.price_level_effect
    days = [cfg.start + dt.timedelta(days=d) for d in range(cfg.days)]
    weekday = np.array([WEEKDAY_DEMAND[day.weekday()] for day in days])
    expected = rate[:, None] * weekday[None, :] * (prices / first[:, None]) ** -cfg.elasticity
    orders = rng.poisson(expected)  # (P, D)
    product_ids = np.array([f"{85000 + p}" for p in range(cfg.products)])

    p_idx, d_idx = np.nonzero(orders)
    p_line = np.repeat(p_idx, orders[p_idx, d_idx])
    d_line = np.repeat(d_idx, orders[p_idx, d_idx])
    n = len(p_line)
    quantity = 1 + rng.poisson(1.0, n)
    outlier = rng.random(n) < cfg.outlier_share
    price = np.where(outlier, np.round(prices[p_line, d_line] * cfg.outlier_factor, 2), prices[p_line, d_line])
    seconds = rng.integers(8 * 3600, 20 * 3600, n)
    at = pd.to_datetime(np.array(days, dtype="datetime64[D]")[d_line]) + pd.to_timedelta(seconds, unit="s")
    lines = (
        pd.DataFrame(
            {
                "at": at,
                "StockCode": product_ids[p_line],
                "Quantity": quantity,
                "Price": price,
                "Customer ID": [f"{12000 + c}.0" for c in rng.integers(0, cfg.customers, n)],
            }
        )
        .sort_values(["at", "StockCode"], kind="stable")
        .reset_index(drop=True)
    )
    lines.insert(0, "Invoice", [f"{500000 + i}" for i in range(len(lines))])
    lines["Description"] = ""
    lines["InvoiceDate"] = lines["at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    lines["Country"] = "United Kingdom"

    units = np.zeros((cfg.products, cfg.days), dtype=np.int64)
    np.add.at(units, (p_line, d_line), quantity)
    daily = pd.DataFrame(
        {
            "product_id": np.repeat(product_ids, cfg.days),
            "day": np.tile(np.array(days, dtype="datetime64[D]"), cfg.products),
            "units": units.ravel(),
            "price": prices.ravel(),
        }
    )
    return lines[list(INVOICE_COLUMNS)], daily


def write_invoices(lines: pd.DataFrame, target: Path, last_day: dt.date | None = None) -> int:
    """Write the lines (those on or before last_day, when given) as an Online Retail II CSV; returns the count."""
    if last_day is not None:
        lines = lines[pd.to_datetime(lines["InvoiceDate"]).dt.date <= last_day]
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(INVOICE_COLUMNS)
        writer.writerows(lines.itertuples(index=False, name=None))
    return len(lines)
