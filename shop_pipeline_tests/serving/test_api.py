"""The online API over real HTTP: a generated shop run through Dagster, then `shop-pipeline serve`.

Consistency with the batch tables is checked for every customer of the shop, not a sample.
"""

import datetime as dt
import subprocess
import sys
import threading

import pytest

from shop_pipeline.serving.prediction_log import PredictionLog
from shop_pipeline.serving.snapshot import current_snapshot_dir, publish_snapshot, serving_root
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.serving.helpers import app_client, table
from shop_pipeline_tests.serving.server_process import running_server


def test_the_run_published_a_snapshot_the_server_loads(shop, api):
    snapshot = current_snapshot_dir(serving_root(shop.home))
    assert snapshot is not None
    ready = api.get("/readyz").json()
    assert ready["status"] == "ready" and ready["snapshot_id"] == snapshot.name
    assert api.get("/healthz").json()["status"] == "ok"


def test_every_customers_scores_equal_the_batch_table(shop, api):
    batch = table(
        shop,
        "SELECT customer_id, p_purchase, churn_risk, expected_orders, expected_spend, segment, "
        "model_version, CAST(as_of AS VARCHAR) FROM scoring.customer_scores",
    )
    assert len(batch) > 100
    for customer_id, *values in batch:
        body = api.get(f"/v1/customers/{customer_id}/scores").json()
        served = [
            body[k]
            for k in (
                "p_purchase",
                "churn_risk",
                "expected_orders",
                "expected_spend",
                "segment",
                "model_version",
                "as_of",
            )
        ]
        assert served == values, customer_id


def test_every_customers_recommendations_equal_the_batch_lists(shop, api):
    batch: dict[str, list] = {}
    for customer_id, rank, product_id, score, reason, version in table(
        shop,
        "SELECT customer_id, rank, product_id, score, reason, model_version FROM scoring.recommendations "
        "ORDER BY customer_id, rank",
    ):
        batch.setdefault(customer_id, []).append((rank, product_id, score, reason, version))
    assert len(batch) > 100
    for customer_id, rows in batch.items():
        body = api.get(f"/v1/customers/{customer_id}/recommendations", params={"k": 20}).json()
        assert body["source"] == "personalised" and body["reason"] is None
        served = [(i["rank"], i["product_id"], i["score"], i["reason"], body["model_version"]) for i in body["items"]]
        assert served == rows[:20], customer_id
    first = next(iter(batch))
    assert len(api.get(f"/v1/customers/{first}/recommendations", params={"k": 3}).json()["items"]) == 3


def test_an_unknown_customer_gets_the_popular_list_with_its_reason(shop, api):
    body = api.get("/v1/customers/nobody-ever/recommendations", params={"k": 5}).json()
    assert body["source"] == "fallback"
    assert "no interaction before the cut-off" in body["reason"]
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    assert {i["reason"] for i in body["items"]} == {"popular"}
    bought = {p for (p,) in table(shop, "SELECT DISTINCT product_id FROM staging.events WHERE event_type = 'purchase'")}
    assert {i["product_id"] for i in body["items"]} <= bought


def test_bad_input_is_a_4xx_with_a_message_never_a_500(api):
    unknown = api.get("/v1/customers/nobody-ever/scores")
    assert unknown.status_code == 404 and "nobody-ever" in unknown.json()["detail"]
    for k in ("0", "1000", "ten"):
        response = api.get("/v1/customers/c1/recommendations", params={"k": k})
        assert response.status_code == 422, k
        assert "k" in response.json()["detail"] and "Traceback" not in response.text
    oversized = api.post("/v1/models", content=b"x" * (65 * 1024), headers={"content-type": "application/json"})
    assert oversized.status_code == 413 and "bytes" in oversized.json()["detail"]
    assert api.get("/v1/nothing-here").status_code == 404


def test_models_lists_the_champions_of_the_snapshot(shop, api):
    body = api.get("/v1/models").json()
    champions = {
        name: version
        for name, version in table(shop, "SELECT model_name, version FROM ml.model_registry WHERE is_champion")
    }
    assert {m["model_name"]: m["version"] for m in body["models"]} == champions
    assert all(m["validated"] for m in body["models"])


def test_a_new_snapshot_is_served_without_a_restart_or_a_failed_request(shop, api):
    customer_id = table(shop, "SELECT min(customer_id) FROM scoring.customer_scores")[0][0]
    before = api.get("/readyz").json()["snapshot_id"]
    statuses: list[int] = []
    seen: set[str] = set()
    stop = threading.Event()

    def hammer():
        import httpx

        with httpx.Client(base_url=str(api.base_url), timeout=10) as client:
            while not stop.is_set():
                response = client.get(f"/v1/customers/{customer_id}/scores")
                statuses.append(response.status_code)
                if response.status_code == 200:
                    seen.add(response.json()["snapshot_id"])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        published = []
        for _ in range(3):
            with connect(shop.warehouse) as con:
                published.append(publish_snapshot(con, serving_root(shop.home), models_dir=shop.models).snapshot_id)
            deadline = dt.datetime.now() + dt.timedelta(seconds=20)
            while api.get("/readyz").json()["snapshot_id"] != published[-1]:
                assert dt.datetime.now() < deadline, "the server did not swap to the new snapshot"
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert statuses and set(statuses) == {200}
    assert published[-1] in seen and before not in published


@pytest.mark.slow  # a server process of its own; the default suite guards the same through
# test_openapi_contract.py's with-token run (a real `serve --token-file`: every /v1 operation refuses no
# token, a wrong one and another scheme with the documented 401), test_every_v1_endpoint_accepts_the_exact_token_only
# and test_the_token_comes_from_the_file_else_the_environment_trimmed
def test_a_token_guards_every_v1_endpoint(shop, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    with running_server(shop.home, "--token-file", str(token_file)) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        assert client.get("/healthz").status_code == 200


TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded(shop, tmp_path_factory):
    """The API with a bearer token, in process, and one request to every /v1 endpoint that it answers with 200."""
    customer_id = table(shop, "SELECT min(customer_id) FROM scoring.customer_scores")[0][0]
    product_id, day = table(
        shop, "SELECT product_id, CAST(min(day) AS VARCHAR) FROM scoring.demand_forecasts GROUP BY 1 ORDER BY 1 LIMIT 1"
    )[0]
    order = {
        "customer_id": customer_id,
        "order_id": "o-token",
        "order_time": "2031-01-01T10:00:00",
        "items": [{"product_id": product_id, "price": 10.0, "quantity": 1}],
    }
    requests = [
        ("GET", "/v1/models", None),
        ("GET", f"/v1/customers/{customer_id}/recommendations", None),
        ("GET", f"/v1/customers/{customer_id}/scores", None),
        ("POST", "/v1/orders/risk", order),
        ("POST", "/v1/demand/predict", {"product_id": product_id, "days": [day]}),
    ]
    logs = PredictionLog(tmp_path_factory.mktemp("token-logs"))
    with app_client(serving_root(shop.home), token=TOKEN, prediction_log=logs) as client:
        yield client, requests


@pytest.mark.parametrize(
    "authorization, status",
    [
        (None, 401),
        (f"Bearer {TOKEN[:-1]}", 401),  # a prefix
        (f"Bearer {TOKEN}x", 401),  # one character more
        (f"Bearer {TOKEN[:-1]}m", 401),  # the same length, one character wrong
        ("Bearer ", 401),
        (f"Basic {TOKEN}", 401),  # the token under another scheme
        (f"Bearer {TOKEN}", 200),
    ],
)
def test_every_v1_endpoint_accepts_the_exact_token_only(guarded, authorization, status):
    client, requests = guarded
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body in requests:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == status, (path, response.text)
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer" and "token" in response.json()["detail"]
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200  # no token needed


def test_binding_beyond_loopback_without_a_token_is_refused(shop):
    done = subprocess.run(
        [sys.executable, "-m", "shop_pipeline.cli", "serve", "--home", str(shop.home), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "--token-file" in done.stderr


def test_readyz_says_not_ready_until_a_snapshot_is_published(shop, tmp_path):
    empty = ShopPaths.at(tmp_path / "empty").ensure()
    with running_server(empty.home, wait_ready=False) as client:
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["status"] == "not_ready"
        assert client.get("/v1/models").status_code == 503
        with connect(shop.warehouse) as con:
            publish_snapshot(con, serving_root(empty.home), models_dir=shop.models)
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while client.get("/readyz").status_code != 200:
            assert dt.datetime.now() < deadline
        assert client.get("/v1/models").status_code == 200


def test_the_run_summary_names_the_snapshot_the_api_serves(shop, api):
    from shop_pipeline.summary import format_summary, warehouse_summary

    current = api.get("/readyz").json()["snapshot_id"]
    line = next(
        text
        for text in format_summary(warehouse_summary(shop.warehouse), [], 0.0).splitlines()
        if text.startswith("serving:")
    )
    assert current in line and "order risk" in line and "demand" in line and "shop-pipeline serve" in line


def test_only_a_loopback_address_may_be_served_without_a_token():
    from shop_pipeline.serving.server import ServeConfigError, check_settings

    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        check_settings(host, None)  # this machine only: no token needed
    for host in ("0.0.0.0", "192.168.1.5", "::", "shop.example.com"):
        with pytest.raises(ServeConfigError) as refused:
            check_settings(host, None)
        assert str(refused.value) == (
            f"binding {host} exposes the API beyond this machine: give a bearer token with --token-file or "
            "$SHOP_PIPELINE_SERVE_TOKEN (or bind 127.0.0.1)"
        )
        check_settings(host, "a-token")


def test_the_token_comes_from_the_file_else_the_environment_trimmed(tmp_path, monkeypatch):
    from shop_pipeline.serving.server import TOKEN_ENV, ServeConfigError, read_token

    monkeypatch.setenv(TOKEN_ENV, "  from-env \n")
    token_file = tmp_path / "token"
    token_file.write_text("  from-file \n")
    assert read_token(token_file) == "from-file"
    assert read_token(None) == "from-env"
    monkeypatch.setenv(TOKEN_ENV, "  ")
    assert read_token(None) is None
    monkeypatch.delenv(TOKEN_ENV)
    assert read_token(None) is None
    token_file.write_text(" \n")
    with pytest.raises(ServeConfigError, match=f"token file {token_file} is empty"):
        read_token(token_file)


def test_serve_runs_the_app_of_the_home_on_the_given_address_with_its_token(tmp_path, monkeypatch):
    """`shop-pipeline serve` as uvicorn receives it (uvicorn itself is not started): one process serves
    the app it built; several workers each build it from the environment it leaves them."""
    import os

    import uvicorn

    from shop_pipeline.serving import server

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    for name in ("OMP_NUM_THREADS", "SHOP_PIPELINE_THREADS", server.ROOT_ENV, server.TOKEN_ENV):
        monkeypatch.setenv(name, "")  # recorded, so what serve() sets is undone after the test
        monkeypatch.delenv(name)
    home = ShopPaths.at(tmp_path / "shop").ensure()
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")

    with pytest.raises(server.ServeConfigError):
        server.serve(home.home, host="0.0.0.0")
    assert calls == []

    server.serve(home.home, host="0.0.0.0", port=8123, token_file=token_file, log_level="info")
    ((app, options),) = calls
    assert options == {"host": "0.0.0.0", "port": 8123, "log_level": "info", "access_log": False}
    assert app.state.store.root == serving_root(home.home) == home.home / "serving"  # where the pipeline publishes
    assert (os.environ["OMP_NUM_THREADS"], os.environ["SHOP_PIPELINE_THREADS"]) == ("1", "1")
    import warnings

    with warnings.catch_warnings():  # Starlette's TestClient suggests httpx2, which is not a dependency
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from fastapi.testclient import TestClient

    client = TestClient(app)  # no snapshot yet: 503 behind the token, 401 without it
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 503

    calls.clear()  # this machine only (the default address): no token needed
    server.serve(home.home)
    ((local_app, options),) = calls
    assert options == {"host": "127.0.0.1", "port": 8000, "log_level": "warning", "access_log": False}
    assert TestClient(local_app).get("/v1/models").status_code == 503  # no snapshot yet, and no 401

    calls.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # the environment may override the one-thread default
    server.serve(home.home, port=8124, token_file=token_file, workers=2)  # two is already several processes
    ((target, options),) = calls
    assert target == "shop_pipeline.serving.server:app_from_environment"
    assert options == {
        "factory": True,
        "host": "127.0.0.1",
        "port": 8124,
        "workers": 2,
        "log_level": "warning",
        "access_log": False,
    }
    assert os.environ["OMP_NUM_THREADS"] == "4"
    assert (os.environ[server.ROOT_ENV], os.environ[server.TOKEN_ENV]) == (str(serving_root(home.home)), "s3cret")
    worker_app = server.app_from_environment()
    assert worker_app.state.store.root == serving_root(home.home)
    worker = TestClient(worker_app)
    assert worker.get("/v1/models").status_code == 401
    assert worker.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 503


def test_models_that_never_scored_answer_404_and_the_popular_list(shop, tmp_path):
    """A shop whose propensity and recommendation models never scored (skipped) still publishes a
    snapshot: scores are 404, recommendations the popular list with no model version."""
    from shop_pipeline_tests.serving.helpers import copied_shop

    home = copied_shop(shop, tmp_path / "copy")
    root = serving_root(home.home)
    with connect(home.warehouse) as con:
        customer = con.execute("SELECT min(customer_id) FROM scoring.customer_scores").fetchone()[0]
        con.execute("DROP TABLE scoring.customer_scores")
        con.execute("DROP TABLE scoring.recommendations")
        published = publish_snapshot(con, root, models_dir=home.models)
    assert published.rows["customer_scores"] == published.rows["recommendations"] == 0
    with app_client(root, prediction_log=PredictionLog(tmp_path / "logs")) as client:
        assert client.get(f"/v1/customers/{customer}/scores").status_code == 404
        body = client.get(f"/v1/customers/{customer}/recommendations", params={"k": 3}).json()
        assert (body["source"], body["model_version"], len(body["items"])) == ("fallback", None, 3)
        assert "no interaction before the cut-off" in body["reason"]


def test_the_popular_list_names_the_recommenders_version_even_with_one_published_row(shop, tmp_path):
    from shop_pipeline_tests.serving.helpers import copied_shop

    home = copied_shop(shop, tmp_path / "copy")
    root = serving_root(home.home)
    with connect(home.warehouse) as con:
        customer, version = con.execute(
            "SELECT customer_id, model_version FROM scoring.recommendations ORDER BY customer_id, rank LIMIT 1"
        ).fetchone()
        con.execute("DELETE FROM scoring.recommendations WHERE customer_id <> ? OR rank <> 1", [customer])
        publish_snapshot(con, root, models_dir=home.models)
    with app_client(root, prediction_log=PredictionLog(tmp_path / "logs")) as client:
        body = client.get("/v1/customers/nobody-ever/recommendations").json()
        assert (body["source"], body["model_version"]) == ("fallback", version)
        mine = client.get(f"/v1/customers/{customer}/recommendations").json()
        assert (mine["source"], mine["model_version"], len(mine["items"])) == ("personalised", version, 1)
