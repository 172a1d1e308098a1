"""`shop-pipeline forget` on a fully built, pseudonymised shop: the customer's id and pseudonym are in
no file under the home afterwards, the API answers them as a new customer, every other customer's
scores are unchanged, and re-landing the original files brings nothing back."""

import shutil

import duckdb
import pytest

from shop_pipeline.pseudonyms import PSEUDONYM_KEY_FILE_ENV, pseudonymiser_from_env
from shop_pipeline.serving.snapshot import serving_root
from shop_pipeline_tests.privacy.conftest import copied, shop_command
from shop_pipeline_tests.privacy.scan import landed_ids, search_home
from shop_pipeline_tests.serving.helpers import app_client

pytestmark = pytest.mark.timeout(2400)  # the shared shop's build runs the whole pipeline on a busy machine


def _scores(paths):
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return dict(con.execute("SELECT customer_id, (p_purchase, segment) FROM scoring.customer_scores").fetchall())


def test_a_forgotten_customer_is_in_no_file_and_stays_forgotten(pseudonymised_shop, key_file, tmp_path):
    from shop_pipeline.serving.prediction_log import PredictionLog

    shop = copied(pseudonymised_shop, tmp_path / "home")
    originals = tmp_path / "originals"
    shutil.copytree(shop.landing, originals)
    pseudonymiser = pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(key_file)})
    before = _scores(shop)
    customer = next(i for i in sorted(landed_ids(shop.landing)) if i.startswith("u") and pseudonymiser(i) in before)
    sessions = {
        s
        for (s,) in duckdb.sql(
            f"SELECT DISTINCT session_id FROM read_csv('{originals}/events/*.csv', all_varchar = true, "
            f"ignore_errors = true, union_by_name = true) WHERE user_id = '{customer}'"
        ).fetchall()
    }
    needles = {customer, pseudonymiser(customer), *sessions, *(pseudonymiser(s) for s in sessions)}
    assert search_home(shop.home, needles, skip=("ground_truth",)), "the customer was never in the shop"

    result = shop_command(shop.home, key_file, "forget", "--customer", customer)
    assert customer not in result.stdout and pseudonymiser(customer) not in result.stdout
    marked = result.stdout.split("retrained by the next")[1]
    assert "propensity " in marked and "recommendation " in marked  # trained on their data: marked

    assert search_home(shop.home, needles, skip=("ground_truth",)) == []
    after = _scores(shop)
    assert after == {c: s for c, s in before.items() if c != pseudonymiser(customer)}
    with app_client(
        serving_root(shop.home), prediction_log=PredictionLog(tmp_path / "logs"), pseudonymiser=pseudonymiser
    ) as client:
        assert client.get(f"/v1/customers/{customer}/scores").status_code == 404
        answer = client.get(f"/v1/customers/{customer}/recommendations").json()
        assert answer["source"] == "fallback" and "unknown or new" in answer["reason"]

    # the originals land again, under their own names and as replays: nothing of theirs comes back
    for original in (originals / "events").iterdir():
        shutil.copy(original, shop.landing / "events" / original.name)
        shutil.copy(original, shop.landing / "events" / f"replay-{original.name}")
    shop_command(shop.home, key_file, "run", "--groups", "ingestion,staging")
    assert search_home(shop.home, needles - {customer, *sessions}, skip=("ground_truth", "landing")) == []
    with duckdb.connect(str(shop.warehouse), read_only=True) as con:
        assert con.execute("SELECT sum(rows_erased) FROM raw.ingested_files").fetchone()[0] > 0
        broken = con.execute(
            "SELECT path FROM raw.ingested_files WHERE status NOT IN ('failed', 'retracted') "
            "AND rows_read <> rows_clean + rows_quarantined + rows_duplicate + coalesce(rows_erased, 0)"
        ).fetchall()
    assert broken == []
