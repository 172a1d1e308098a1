"""The shop shapes of --profile (synth/profiles.py) and the catalog size of --products."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest

from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.synth.cli import main

START = dt.date(2025, 1, 6)  # a Monday: whole weeks


def purchases(home: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE VIEW buys AS SELECT user_id, product_id, order_id, CAST(event_time AS TIMESTAMP) AS t "
        f"FROM read_csv('{home}/landing/events/*.csv', all_varchar = true) WHERE event_type = 'purchase'"
    )
    return con


@pytest.fixture(scope="module")
def cohort_shop(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cohort")
    generate_shop(home, GeneratorConfig(events=40_000, days=56, seed=3, start=START, defects="none", profile="cohort"))
    return home


@pytest.fixture(scope="module")
def grocery_shop(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("grocery")
    generate_shop(home, GeneratorConfig(events=40_000, days=56, seed=3, start=START, defects="none", profile="grocery"))
    return home


def test_cohort_daily_sales_decay(cohort_shop: Path) -> None:
    con = purchases(cohort_shop)
    weekly = [
        n
        for (n,) in con.execute(
            "SELECT count(*) FROM buys GROUP BY date_trunc('week', t) ORDER BY date_trunc('week', t)"
        ).fetchall()
    ]
    assert len(weekly) == 8
    # after the acquisition weeks, every later fortnight sells less than the one before it
    fortnights = [weekly[i] + weekly[i + 1] for i in range(2, 8, 2)]
    assert fortnights[0] > fortnights[1] > fortnights[2]
    assert fortnights[2] < 0.8 * (weekly[0] + weekly[1])
    # no customer is acquired in the last half
    late_new = con.execute(
        "SELECT count(*) FROM (SELECT user_id, min(CAST(event_time AS TIMESTAMP)) AS first "
        f"FROM read_csv('{cohort_shop}/landing/events/*.csv', all_varchar = true) GROUP BY user_id) "
        "WHERE first >= $half",
        {"half": dt.datetime.combine(START + dt.timedelta(days=28), dt.time())},
    ).fetchone()[0]
    # only the fraudsters' brand-new accounts (synth/fraud.py) appear late
    users = con.execute(
        f"SELECT count(DISTINCT user_id) FROM read_csv('{cohort_shop}/landing/events/*.csv', all_varchar = true)"
    ).fetchone()[0]
    assert late_new < 0.03 * users


def test_grocery_rebuy_cycles(grocery_shop: Path) -> None:
    con = purchases(grocery_shop)
    gaps = np.array(
        [
            g
            for (g,) in con.execute(
                "SELECT date_diff('day', lag(CAST(t AS DATE)) OVER w, CAST(t AS DATE)) FROM buys "
                "WINDOW w AS (PARTITION BY user_id, product_id ORDER BY t) QUALIFY lag(t) OVER w IS NOT NULL"
            ).fetchall()
        ]
    )
    # most re-buys of the same product by the same customer come one to three weeks apart
    assert len(gaps) > 1000
    assert np.mean((gaps >= 7) & (gaps <= 21)) > 0.6
    # baskets: orders with several products are common
    multi = con.execute(
        "SELECT avg((n > 1)::INT) FROM (SELECT order_id, count(DISTINCT product_id) AS n FROM buys GROUP BY 1)"
    ).fetchone()[0]
    assert multi > 0.4


def test_products_sets_catalog_size(tmp_path: Path) -> None:
    generate_shop(tmp_path, GeneratorConfig(events=3000, days=7, seed=1, defects="none", products=1234))
    lines = (tmp_path / "landing" / "catalog" / "products.csv").read_text().splitlines()
    assert len(lines) == 1 + 1234


def test_cli_help_names_profiles(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--profile {default,grocery,cohort}" in out and "--products" in out and "bought again" in out


def test_bad_profile_and_products_rejected() -> None:
    with pytest.raises(ValueError, match="profile"):
        GeneratorConfig(profile="farm")
    with pytest.raises(ValueError, match="products"):
        GeneratorConfig(products=10)
