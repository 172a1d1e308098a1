"""The re-identification export on a tiny pseudonymised shop: ingestion keeps each customer's id
sealed in reidentify.customers (no clear id in the warehouse's bytes or values), `export-scores`
gives the scores with the real ids, only the pseudonym key opens the lookup, and an erased
customer leaves it; a key rotation re-seals it."""

import csv
import datetime as dt

import pytest

from shop_pipeline.forget import forget
from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV, PrivacyKeyError, Pseudonymiser
from shop_pipeline.reidentify import export_scores
from shop_pipeline.rotate_key import rotate_pseudonym_key
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.privacy.conftest import KEY
from shop_pipeline_tests.privacy.scan import search_home
from shop_pipeline_tests.warehouse.helpers import DAY1, run_days

NEW_KEY = "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc"
CUSTOMERS = {"alice": 0.9, "bob": 0.2, "carol": 0.6}


@pytest.fixture
def shop(tmp_path, monkeypatch):
    monkeypatch.delenv(PSEUDONYM_KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY)
    paths = ShopPaths.at(tmp_path / "home").ensure()
    write_events(
        paths.landing,
        "events_2025-01-01.csv",
        [
            event_line(f"e{i}", "2025-01-01T10:00:00Z", user=user, session=f"s{i}")
            for i, user in enumerate([*CUSTOMERS, "alice"])
        ],
    )
    with connect(paths.warehouse) as con:
        run_days(con, paths.landing, [DAY1])
        ddl.create(con, "scoring.customer_scores")  # scores as the propensity model writes them
        for user, churn in CUSTOMERS.items():
            con.execute(
                "INSERT INTO scoring.customer_scores VALUES (pseudonym(?), ?, ?, 1.0, 10.0, 'loyal', 'v1', ?)",
                [user, 1 - churn, churn, DAY1],
            )
    return paths


def _exported(path) -> dict[str, float]:
    with open(path, newline="") as handle:
        return {row["customer_id"]: float(row["churn_risk"]) for row in csv.DictReader(handle)}


def test_the_export_reidentifies_scores_through_the_sealed_lookup_only(shop, tmp_path, monkeypatch):
    assert search_home(shop.home, set(CUSTOMERS), skip=("landing",)) == []
    with connect(shop.warehouse) as con:
        assert con.execute("SELECT count(*) FROM reidentify.customers").fetchone()[0] == 3
    out = tmp_path / "churn.csv"
    report = export_scores(shop, out, min_churn_risk=0.5)
    assert report.rows == 2 and _exported(out) == {"alice": 0.9, "carol": 0.6}
    assert out.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ValueError, match="inside the shop home"):
        export_scores(shop, shop.home / "reports" / "churn.csv")
    # another key opens nothing (the warehouse refuses it before the lookup is read)
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, NEW_KEY)
    with pytest.raises(PrivacyKeyError):
        export_scores(shop, tmp_path / "other.csv")
    with connect(shop.warehouse) as con:
        pseudonym, sealed = con.execute("SELECT customer_id, sealed_id FROM reidentify.customers LIMIT 1").fetchone()
    with pytest.raises(PrivacyKeyError, match="does not open"):
        Pseudonymiser(NEW_KEY.encode()).unseal(pseudonym, sealed)
    assert Pseudonymiser(KEY.encode()).unseal(pseudonym, sealed) in CUSTOMERS


def test_an_erased_customer_leaves_the_lookup_and_a_rotation_reseals_it(shop, tmp_path, monkeypatch):
    forget(shop, ["alice"])
    export_scores(shop, tmp_path / "after-forget.csv")
    assert _exported(tmp_path / "after-forget.csv") == {"bob": 0.2, "carol": 0.6}
    rotate_pseudonym_key(shop, Pseudonymiser(NEW_KEY.encode()), ["alice"], now=dt.datetime(2025, 1, 5))
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, NEW_KEY)
    export_scores(shop, tmp_path / "after-rotation.csv")
    assert _exported(tmp_path / "after-rotation.csv") == {"bob": 0.2, "carol": 0.6}
    with connect(shop.warehouse) as con:
        stored = {p for (p,) in con.execute("SELECT customer_id FROM reidentify.customers").fetchall()}
    assert stored == {Pseudonymiser(NEW_KEY.encode())(c) for c in ("bob", "carol")}
