"""Pseudonymised customers: the key's checks, DuckDB's pseudonyms equal Python's, and a shop built
with a key holds no landed customer or session id outside its landing folder."""

import hashlib
import hmac
import os

import duckdb
import pytest

from shop_pipeline.pseudonyms import (
    PSEUDONYM_KEY_ENV,
    PSEUDONYM_KEY_FILE_ENV,
    PrivacyKeyError,
    Pseudonymiser,
    install_macros,
    pseudonymiser_from_env,
)
from shop_pipeline.serving.snapshot import serving_root
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.privacy.conftest import KEY, shop_command
from shop_pipeline_tests.privacy.scan import landed_ids, search_home
from shop_pipeline_tests.serving.helpers import app_client
from shop_pipeline_tests.warehouse.helpers import DAY1, DAY2, ingest_days

pytestmark = pytest.mark.timeout(2400)  # the shared shop's build runs the whole pipeline on a busy machine

# The generator's truth files are the test's answer key, not something a shop holds.
NOT_SEARCHED = ("landing", "ground_truth")


@pytest.mark.parametrize("key", [b"k" * 16, b"a much longer key than one sha256 block " * 3])
def test_duckdb_computes_the_same_pseudonyms_as_python_hmac(key):
    pseudonymiser = Pseudonymiser(key)
    values = ["u000001", "s0000000042", "é-ü 😀", "", "x" * 300]
    with duckdb.connect() as con:
        install_macros(con, pseudonymiser)
        in_sql = [con.execute("SELECT pseudonym(?)", [v]).fetchone()[0] for v in values]
        assert con.execute("SELECT pseudonym(NULL)").fetchone()[0] is None
    expected = [hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:32] for v in values]
    assert in_sql == expected == [pseudonymiser(v) for v in values]
    assert len(set(expected)) == len(values)
    assert key.decode() not in repr(pseudonymiser)


def test_a_key_file_others_can_read_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "key"
    path.write_text(KEY)
    path.chmod(0o644)
    with pytest.raises(PrivacyKeyError, match="chmod 600"):
        pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(path)})
    path.chmod(0o600)
    assert pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(path)})("u1") == Pseudonymiser(KEY.encode())("u1")
    with pytest.raises(PrivacyKeyError, match="at least 16"):
        pseudonymiser_from_env({PSEUDONYM_KEY_ENV: "short"})
    with pytest.raises(PrivacyKeyError, match="cannot read"):
        pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(tmp_path / "missing")})
    assert pseudonymiser_from_env({}) is None


def test_a_pseudonymised_shop_holds_no_landed_id_outside_its_landing_folder(pseudonymised_shop):
    ids = landed_ids(pseudonymised_shop.landing)
    assert len(ids) > 1000
    assert search_home(pseudonymised_shop.home, ids, skip=NOT_SEARCHED) == []
    # the search does find them where they are: the scan is no test that cannot fail
    assert search_home(pseudonymised_shop.home, ids, skip=("ground_truth",))
    key_parts = {KEY, KEY[:32], KEY[32:]}
    assert search_home(pseudonymised_shop.home, key_parts, skip=("landing",)) == []


def test_the_api_takes_real_ids_and_logs_only_pseudonyms(pseudonymised_shop, key_file, tmp_path):
    from shop_pipeline.serving.prediction_log import PredictionLog

    pseudonymiser = pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(key_file)})
    with duckdb.connect(str(pseudonymised_shop.warehouse), read_only=True) as con:
        scored = dict(con.execute("SELECT customer_id, p_purchase FROM scoring.customer_scores").fetchall())
        product = con.execute("SELECT min(product_id) FROM staging.events").fetchone()[0]
    real = sorted(i for i in landed_ids(pseudonymised_shop.landing) if i.startswith("u"))
    known = [cid for cid in real if pseudonymiser(cid) in scored][:5]
    assert known, "no landed customer was scored"
    logs = tmp_path / "logs"
    with app_client(
        serving_root(pseudonymised_shop.home), prediction_log=PredictionLog(logs), pseudonymiser=pseudonymiser
    ) as client:
        for cid in known:
            answer = client.get(f"/v1/customers/{cid}/scores")
            assert answer.status_code == 200, answer.text
            assert answer.json()["customer_id"] == cid
            assert answer.json()["p_purchase"] == pytest.approx(scored[pseudonymiser(cid)])
        # a pseudonym sent as an id is an unknown customer (it is pseudonymised again)
        assert client.get(f"/v1/customers/{pseudonymiser(known[0])}/scores").status_code == 404
        order = {
            "customer_id": known[0],
            "session_id": "s-live-1",
            "order_id": "o-live-1",
            "order_time": "2031-01-01T10:00:00",
            "items": [{"product_id": product, "price": 10.0, "quantity": 1}],
        }
        risk = client.post("/v1/orders/risk", json=order)
    if risk.status_code == 200:  # the small shop may have no order-risk champion
        assert risk.json()["known_customer"] is True
    logged = b"".join(p.read_bytes() for p in logs.glob("*.jsonl"))
    assert known[0].encode() not in logged and b"s-live-1" not in logged
    if risk.status_code == 200:
        assert pseudonymiser(known[0]).encode() in logged


def test_ingestion_under_another_key_or_none_is_refused_before_reading(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    warehouse = tmp_path / "shop.duckdb"
    write_events(landing, "events_2025-01-01.csv", [event_line("e1", user="u-alice", when="2025-01-01T10:00:00Z")])
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY)
    with connect(warehouse) as con:
        ingest_days(con, landing, [DAY1])
    write_events(landing, "events_2025-01-02.csv", [event_line("e2", user="u-bob")])
    for other in ("another key of enough length, 0123456789", None):
        if other is None:
            monkeypatch.delenv(PSEUDONYM_KEY_ENV)
        else:
            monkeypatch.setenv(PSEUDONYM_KEY_ENV, other)
        with connect(warehouse) as con, pytest.raises(PrivacyKeyError, match="nothing was ingested") as refused:
            ingest_days(con, landing, [DAY1, DAY2])
        assert other is None or other not in str(refused.value)
    with connect(warehouse) as con:
        assert con.execute("SELECT user_id FROM raw.events").fetchall() == [(Pseudonymiser(KEY.encode())("u-alice"),)]


def test_a_warehouse_of_clear_ids_refuses_a_key(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    write_events(landing, "events_2025-01-01.csv", [event_line("e1", user="u-alice", when="2025-01-01T10:00:00Z")])
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)
    monkeypatch.delenv(PSEUDONYM_KEY_FILE_ENV, raising=False)
    with connect(tmp_path / "shop.duckdb") as con:
        ingest_days(con, landing, [DAY1])
        con.execute("DELETE FROM privacy.key_fingerprints")  # a warehouse from before the record
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY)
    with connect(tmp_path / "shop.duckdb") as con, pytest.raises(PrivacyKeyError, match="holds clear customer ids"):
        ingest_days(con, landing, [DAY1])


def test_a_readable_key_file_stops_the_run_before_any_work(tmp_path):
    loose = tmp_path / "loose.key"
    loose.write_text(KEY)
    os.chmod(loose, 0o640)
    result = shop_command(tmp_path / "home", loose, "run", check=False)
    assert result.returncode == 2
    assert "chmod 600" in result.stderr and KEY not in result.stderr + result.stdout


def test_what_the_command_line_writes_is_the_owners_only(pseudonymised_shop):
    loose = [
        (p.relative_to(pseudonymised_shop.home).as_posix(), oct(p.stat().st_mode & 0o777))
        for p in [pseudonymised_shop.home, *pseudonymised_shop.home.rglob("*")]
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]
    assert loose == []
