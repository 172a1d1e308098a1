"""`shop-pipeline rotate-pseudonym-key` on a fully built, pseudonymised shop: no pseudonym under the
old key is left in any file under the home (decoded values too), and the API, given the new key,
answers every customer as before."""

import duckdb
import pytest

from shop_pipeline.pseudonyms import PSEUDONYM_KEY_FILE_ENV, pseudonymiser_from_env
from shop_pipeline.serving.snapshot import serving_root
from shop_pipeline_tests.privacy.conftest import copied, shop_command
from shop_pipeline_tests.privacy.scan import landed_ids, search_home
from shop_pipeline_tests.serving.helpers import app_client

pytestmark = pytest.mark.timeout(2400)  # the shared shop's build runs the whole pipeline on a busy machine
NEW_KEY = "5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b"


def test_after_rotation_no_old_pseudonym_remains_and_the_api_finds_customers_with_the_new_key(
    pseudonymised_shop, key_file, tmp_path
):
    from shop_pipeline.serving.prediction_log import PredictionLog

    shop = copied(pseudonymised_shop, tmp_path / "home")
    new_key_file = tmp_path / "new.key"
    new_key_file.write_text(NEW_KEY)
    new_key_file.chmod(0o600)
    old = pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(key_file)})
    new = pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(new_key_file)})
    with duckdb.connect(str(shop.warehouse), read_only=True) as con:
        before = dict(con.execute("SELECT customer_id, p_purchase FROM scoring.customer_scores").fetchall())
    ids = landed_ids(shop.landing)
    old_pseudonyms = {old(i) for i in ids}
    assert search_home(shop.home, old_pseudonyms, skip=("ground_truth", "landing"))

    result = shop_command(shop.home, key_file, "rotate-pseudonym-key", "--new-key-file", str(new_key_file))
    assert "pseudonym key rotated" in result.stdout and NEW_KEY not in result.stdout + result.stderr

    assert search_home(shop.home, old_pseudonyms, skip=("ground_truth", "landing")) == []
    with duckdb.connect(str(shop.warehouse), read_only=True) as con:
        after = dict(con.execute("SELECT customer_id, p_purchase FROM scoring.customer_scores").fetchall())
    clear_of = {old(i): i for i in ids}
    assert after == {new(clear_of[p]): score for p, score in before.items()}
    customer = clear_of[sorted(before)[0]]
    with app_client(serving_root(shop.home), prediction_log=PredictionLog(tmp_path / "logs"), pseudonymiser=new) as api:
        answer = api.get(f"/v1/customers/{customer}/scores")
        assert answer.status_code == 200 and answer.json()["p_purchase"] == pytest.approx(before[old(customer)])
    # the warehouse now refuses the old key
    refused = shop_command(shop.home, key_file, "run", "--groups", "ingestion", check=False)
    assert refused.returncode == 1 and "nothing was ingested" in refused.stderr
