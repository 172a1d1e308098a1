"""The API in process (FastAPI's TestClient, no server or port) over a tiny published snapshot
(tiny_shop.py; no pipeline run): answers, refusals and their messages, the token, the body limit, what is
logged, the OpenAPI document of the running server, and pseudonymised snapshots (also as `serve` starts them).

The order-risk and demand endpoints are driven here by stand-ins for the model's online predictors
(the interface of ml/order_risk/online.py and ml/demand_forecast/online.py), so these tests check what the
API does with a prediction; the predictors themselves are checked against the batch scores on the
generated shop (test_order_risk.py, test_demand.py).
"""

import dataclasses
import datetime as dt
import json
import warnings
from typing import ClassVar

import pytest

from shop_pipeline.ml.demand_forecast.online import DayForecast, DayOutsideHorizon, UnknownProduct
from shop_pipeline.ml.order_risk.online import OrderRiskAnswer
from shop_pipeline.serving.app import MAX_BODY_BYTES, create_app
from shop_pipeline.serving.prediction_log import PredictionLog
from shop_pipeline.serving.snapshot import publish_snapshot
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.serving.tiny_shop import AS_OF, RECS_VERSION, SCORES_VERSION, tiny_shop

with warnings.catch_warnings():  # Starlette's TestClient suggests httpx2, which is not a dependency
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

TOKEN = "s3cret-token"
FIRST_DAY = AS_OF + dt.timedelta(days=1)


@pytest.fixture
def tiny(tmp_path):
    return tiny_shop(tmp_path / "home")


@pytest.fixture
def published(tiny):
    with connect(tiny.warehouse) as con:
        return publish_snapshot(con, tiny.serving, tiny.models, now=dt.datetime(2031, 4, 2, 6, 0, 0))


def client_of(tiny, tmp_path, **settings) -> TestClient:
    settings.setdefault("prediction_log", PredictionLog(tmp_path / "logs"))
    return TestClient(create_app(tiny.serving, **settings), raise_server_exceptions=False)


@pytest.fixture
def api(tiny, published, tmp_path):
    with client_of(tiny, tmp_path) as client:
        yield client


def logged(tmp_path) -> list[dict]:
    return [json.loads(line) for path in sorted((tmp_path / "logs").glob("*.jsonl")) for line in path.open()]


class OrderRiskStandIn:
    """Answers like OrderRiskScorer and remembers the orders it was asked about."""

    version = "or-7"

    def __init__(self, fail: bool = False):
        self.orders, self.fail = [], fail

    def score(self, order):
        if self.fail:
            raise RuntimeError("secret internals")
        self.orders.append(order)
        return OrderRiskAnswer(0.75, True, 0.5, ["amount=90 (+0.2)"], order.customer_id == "alice")


class DemandStandIn:
    """Answers like DemandPredictor for product p-1 over a 3-day horizon after AS_OF."""

    version, candidate, as_of, example_product = "df-3", "challenger", AS_OF, "p-1"
    days: ClassVar = [AS_OF + dt.timedelta(days=i) for i in (1, 2, 3)]
    last_day = days[-1]

    def predict(self, product_id, days, price, promotion_pct):
        if product_id != "p-1":
            raise UnknownProduct(product_id)
        for day in days:
            if day not in self.days:
                raise DayOutsideHorizon(day.isoformat())
        if promotion_pct == 99:
            raise ValueError("promotion_pct: a promotion needs a price on 2031-04-01")
        return [DayForecast(day, 1.0, 2.0, 3.0, price or 10.0, promotion_pct or 0.0) for day in days]


def serve_predictors(client: TestClient, **online) -> str:
    """The loaded snapshot, with these online predictors; its id."""
    store = client.app.state.store
    store.current = dataclasses.replace(store.current, online=online)
    return store.current.snapshot_id


ORDER = {
    "customer_id": "alice",
    "order_id": "o-1",
    "order_time": "2031-04-01T12:00:00+02:00",
    "items": [{"product_id": "p-1", "category": "toys", "price": 30, "quantity": 3}],
}


NO_SNAPSHOT_YET = (
    "no serving snapshot is loaded yet: run the pipeline (shop-pipeline run) so that the scoring stage publishes one"
)


def test_ready_once_a_snapshot_is_loaded_and_until_then_every_v1_call_is_a_503(tiny, tmp_path):
    with client_of(tiny, tmp_path) as client:
        assert client.get("/healthz").json() == {"status": "ok", "snapshot_id": None, "detail": None}
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json() == {"status": "not_ready", "snapshot_id": None, "detail": "no snapshot published yet"}
        for path in ("/v1/models", "/v1/customers/alice/scores", "/v1/customers/alice/recommendations"):
            response = client.get(path)
            assert (response.status_code, response.json()) == (503, {"detail": NO_SNAPSHOT_YET}), path
        document = client.get("/openapi.json")  # the document is served before any snapshot too
        assert document.status_code == 200 and "/v1/models" in document.json()["paths"]
        (tiny.serving / "snapshots").mkdir(parents=True)
        (tiny.serving / "CURRENT").write_text("20310101T000000-gone\n")
        client.app.state.store.refresh()
        reason = client.get("/readyz").json()["detail"]
        assert reason.startswith("FileNotFoundError:") and "20310101T000000-gone" in reason
        with connect(tiny.warehouse) as con:
            snapshot_id = publish_snapshot(con, tiny.serving, tiny.models).snapshot_id
        client.app.state.store.refresh()
        assert client.get("/readyz").json() == {"status": "ready", "snapshot_id": snapshot_id, "detail": None}
        assert client.get("/v1/models").status_code == 200


def test_models_names_the_snapshots_champions(api, published):
    body = api.get("/v1/models").json()
    assert (body["snapshot_id"], body["published_at"], body["as_of"]) == (
        published.snapshot_id,
        "2031-04-02T06:00:00",
        "2031-03-31",
    )
    assert [(m["model_name"], m["version"], m["validated"]) for m in body["models"]] == [
        ("propensity", SCORES_VERSION, True),
        ("recommendation", RECS_VERSION, False),
    ]


def test_a_known_customer_gets_their_scores_and_an_unknown_one_a_404_naming_them(api, published):
    assert api.get("/v1/customers/alice/scores").json() == {
        "customer_id": "alice",
        "p_purchase": 0.75,
        "churn_risk": 0.25,
        "expected_orders": 2.5,
        "expected_spend": 120.0,
        "segment": "champions",
        "model_version": SCORES_VERSION,
        "as_of": "2031-03-31",
        "snapshot_id": published.snapshot_id,
    }
    unknown = api.get("/v1/customers/nobody/scores")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "detail": "customer 'nobody' has no scores: no event of theirs reached the last run's cut-off"
    }


def test_recommendations_are_the_customers_list_else_the_popular_one_with_the_reason(api, published):
    mine = api.get("/v1/customers/alice/recommendations", params={"k": 2}).json()
    assert mine == {
        "customer_id": "alice",
        "source": "personalised",
        "reason": None,
        "items": [
            {"rank": 1, "product_id": "p-10", "score": 0.9, "reason": "similar_items"},
            {"rank": 2, "product_id": "p-11", "score": 0.8, "reason": "similar_items"},
        ],
        "model_version": RECS_VERSION,
        "as_of": "2031-03-31",
        "snapshot_id": published.snapshot_id,
    }
    assert len(api.get("/v1/customers/alice/recommendations").json()["items"]) == 3  # k defaults to 10

    unknown = api.get("/v1/customers/nobody/recommendations", params={"k": 3}).json()
    assert (unknown["source"], unknown["model_version"], unknown["snapshot_id"]) == (
        "fallback",
        RECS_VERSION,
        published.snapshot_id,
    )
    assert unknown["reason"] == (
        "customer has no interaction before the cut-off (unknown or new): the most popular products"
    )
    assert [(i["rank"], i["product_id"], i["score"], i["reason"]) for i in unknown["items"]] == [
        (1, "p-2", 3.0, "popular"),
        (2, "p-1", 2.0, "popular"),
        (3, "p-3", 2.0, "popular"),
    ]
    scored_without_a_list = api.get("/v1/customers/carol/recommendations").json()
    assert scored_without_a_list["source"] == "fallback" and len(scored_without_a_list["items"]) == 4
    assert scored_without_a_list["reason"] == (
        "customer has no published list (outside the recommendation window): the most popular products"
    )


@pytest.mark.parametrize(
    "path, status, detail",
    [
        ("/v1/customers/alice/recommendations?k=0", 422, "query.k: Input should be greater than or equal to 1"),
        ("/v1/customers/alice/recommendations?k=101", 422, "query.k: Input should be less than or equal to 100"),
        (
            "/v1/customers/alice/recommendations?k=ten",
            422,
            "query.k: Input should be a valid integer, unable to parse string as an integer",
        ),
        ("/v1/customers/" + "x" * 201 + "/scores", 422, "path.customer_id: String should have at most 200 characters"),
        ("/v1/nothing-here", 404, "Not Found"),
    ],
)
def test_a_bad_request_is_a_4xx_whose_one_message_says_what_to_change(api, path, status, detail):
    response = api.get(path)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_k_may_be_a_hundred(api):
    assert api.get("/v1/customers/nobody/recommendations", params={"k": 100}).status_code == 200


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
def test_with_a_token_every_v1_endpoint_takes_the_exact_token_only(tiny, published, tmp_path, authorization, status):
    headers = {} if authorization is None else {"Authorization": authorization}
    with client_of(tiny, tmp_path, token=TOKEN) as client:
        serve_predictors(client, order_risk=OrderRiskStandIn(), demand_forecast=DemandStandIn())
        requests = [
            ("GET", "/v1/models", None),
            ("GET", "/v1/customers/alice/recommendations", None),
            ("GET", "/v1/customers/alice/scores", None),
            ("POST", "/v1/orders/risk", ORDER),
            ("POST", "/v1/demand/predict", {"product_id": "p-1", "days": [FIRST_DAY.isoformat()]}),
        ]
        for method, path, body in requests:
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == status, (path, response.text)
            if status == 401:
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json() == {"detail": "missing or wrong bearer token (Authorization: Bearer <token>)"}
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    assert len(logged(tmp_path)) == (2 if status == 200 else 0)  # a refused request is not answered, nor logged


def test_a_body_over_the_limit_is_refused_whether_declared_or_streamed(tiny, published, tmp_path):
    with client_of(tiny, tmp_path, max_body_bytes=1000) as client:
        serve_predictors(client, order_risk=OrderRiskStandIn())
        small = json.dumps(ORDER).encode()
        assert client.post("/v1/orders/risk", content=small, headers={"content-type": "application/json"}).is_success
        big = json.dumps({**ORDER, "order_id": "o" * 1000}).encode()
        declared = client.post("/v1/orders/risk", content=big, headers={"content-type": "application/json"})
        assert declared.status_code == 413
        assert declared.json() == {"detail": "request body over 1000 bytes; send smaller batches"}
        streamed = client.post(
            "/v1/orders/risk",
            content=(big[i : i + 100] for i in range(0, len(big), 100)),  # chunked: no Content-Length
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413 and "over 1000 bytes" in streamed.json()["detail"]
        at_the_limit = json.dumps({**ORDER, "order_id": "o-" + "x" * (1000 - len(small) + 1)}).encode()
        assert len(at_the_limit) == 1000
        streamed_at_the_limit = client.post(
            "/v1/orders/risk",
            content=(at_the_limit[i : i + 100] for i in range(0, 1000, 100)),
            headers={"content-type": "application/json"},
        )
        # read whole (no 413): refused by validation, for its too long order id
        assert streamed_at_the_limit.status_code == 422 and "order_id" in streamed_at_the_limit.json()["detail"]
        not_a_number = client.post(
            "/v1/orders/risk", content=small, headers={"content-type": "application/json", "content-length": "12a"}
        )
        assert not_a_number.status_code == 413
        exactly = client.post("/v1/models", content=b"x" * 1000)  # at the limit: not refused (405: a GET path)
        assert exactly.status_code == 405
    assert [line["request"]["order_id"] for line in logged(tmp_path)] == ["o-1"]


def test_the_default_body_limit_is_64_kib(api):
    assert MAX_BODY_BYTES == 64 * 1024
    response = api.post("/v1/models", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413 and response.json()["detail"] == (
        "request body over 65536 bytes; send smaller batches"
    )
    assert api.post("/v1/models", content=b"x" * MAX_BODY_BYTES).status_code == 405


def test_an_order_is_scored_in_utc_answered_and_logged_exactly_once(api, published, tmp_path):
    scorer = OrderRiskStandIn()
    snapshot_id = serve_predictors(api, order_risk=scorer)
    response = api.post("/v1/orders/risk", json=ORDER)
    expected = {
        "order_id": "o-1",
        "customer_id": "alice",
        "risk_score": 0.75,
        "flagged": True,
        "threshold": 0.5,
        "top_features": ["amount=90 (+0.2)"],
        "known_customer": True,
        "model_version": "or-7",
        "snapshot_id": snapshot_id,
    }
    assert (response.status_code, response.json()) == (200, expected)
    (order,) = scorer.orders
    assert order.order_time == dt.datetime(2031, 4, 1, 10, 0)  # +02:00 taken to UTC, without an offset
    assert (order.session_id, order.session_started_at, order.first_cart_at) == (None, None, None)
    assert [(line.product_id, line.category, line.price, line.quantity) for line in order.lines] == [
        ("p-1", "toys", 30.0, 3)
    ]
    with_a_session = {
        **ORDER,
        "order_id": "o-2",
        "order_time": "2031-04-01T12:00:00",  # no offset: already UTC
        "session_id": "s-1",
        "session_started_at": "2031-04-01T11:00:00-01:00",
        "session_views": 4,
        "session_carts": 2,
        "first_cart_at": "2031-04-01T11:30:00Z",
    }
    assert api.post("/v1/orders/risk", json=with_a_session).status_code == 200
    second = scorer.orders[1]
    assert (second.order_time, second.session_started_at, second.first_cart_at) == (
        dt.datetime(2031, 4, 1, 12, 0),
        dt.datetime(2031, 4, 1, 12, 0),
        dt.datetime(2031, 4, 1, 11, 30),
    )
    assert (second.session_id, second.session_views, second.session_carts) == ("s-1", 4, 2)

    lines = logged(tmp_path)
    assert [(line["endpoint"], line["model_version"], line["snapshot_id"]) for line in lines] == [
        ("orders/risk", "or-7", snapshot_id),
        ("orders/risk", "or-7", snapshot_id),
    ]
    assert lines[0]["request"] == {
        **ORDER,
        "session_id": None,
        "session_started_at": None,
        "session_views": 0,
        "session_carts": 0,
        "first_cart_at": None,
        "items": [{"product_id": "p-1", "category": "toys", "price": 30.0, "quantity": 3}],
    }
    assert lines[0]["response"] == expected
    assert len({line["request_id"] for line in lines}) == 2


@pytest.mark.parametrize(
    "session_fact",
    [
        {"first_cart_at": "2031-04-01T11:30:00"},
        {"session_started_at": "2031-04-01T11:00:00"},
        {"session_views": 2},
        {"session_carts": 1},
    ],
)
def test_session_facts_without_a_session_are_refused_and_not_scored(api, tmp_path, session_fact):
    scorer = OrderRiskStandIn()
    serve_predictors(api, order_risk=scorer)
    response = api.post("/v1/orders/risk", json={**ORDER, **session_fact})
    assert response.status_code == 422
    assert response.json() == {
        "detail": "session_started_at, session_views, session_carts and first_cart_at need a session_id"
    }
    assert scorer.orders == [] and logged(tmp_path) == []


def test_a_snapshot_without_an_order_risk_or_demand_champion_answers_503(api):
    risk = api.post("/v1/orders/risk", json=ORDER)
    assert risk.status_code == 503 and risk.json()["detail"] == (
        "this snapshot has no order-risk champion (order risk was not scored in the last run)"
    )
    demand = api.post("/v1/demand/predict", json={"product_id": "p-1", "days": [FIRST_DAY.isoformat()]})
    assert demand.status_code == 503 and demand.json()["detail"] == (
        "this snapshot has no demand forecast champion (demand was not forecast in the last run)"
    )


@pytest.mark.parametrize(
    "body, status, detail",
    [
        (
            b"{not json",
            422,
            "body: JSON decode error at character 1: Expecting property name enclosed in double quotes",
        ),
        (b'{"customer_id": "\xc3\x28"}', 400, "the body is not UTF-8 text, so not JSON: send the JSON body in UTF-8"),
    ],
)
def test_a_body_that_is_not_json_is_refused_with_what_to_change(api, body, status, detail):
    serve_predictors(api, order_risk=OrderRiskStandIn())
    response = api.post("/v1/orders/risk", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_an_invalid_order_names_every_field_at_fault(api):
    serve_predictors(api, order_risk=OrderRiskStandIn())
    response = api.post("/v1/orders/risk", json={**ORDER, "items": [], "order_time": 5})
    assert response.status_code == 422
    assert response.json() == {
        "detail": "order_time: Value error, should be an ISO-8601 string; "
        "items: List should have at least 1 item after validation, not 0"
    }
    for change, detail in (
        (
            {"order_time": "0001-01-01T10:00:00"},
            "order_time: Value error, should be after 0001-01-01 and before 9999-12-31",
        ),
        ({"items": [{**ORDER["items"][0], "price": "30"}]}, "items.0.price: Value error, should be a number"),
    ):
        assert api.post("/v1/orders/risk", json={**ORDER, **change}).json() == {"detail": detail}
    assert api.post("/v1/orders/risk", json=[1]).json() == {
        "detail": "request: Input should be a valid dictionary or object to extract fields from"
    }


def test_an_unexpected_error_is_a_500_with_a_request_id_and_no_internals(api, caplog):
    serve_predictors(api, order_risk=OrderRiskStandIn(fail=True))
    response = api.post("/v1/orders/risk", json=ORDER)
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith("internal error (request id ") and detail.endswith("; see the server log)")
    assert "secret internals" not in response.text
    request_id = detail.removeprefix("internal error (request id ").split(";")[0]
    assert len(request_id) == 12 and f"request {request_id} failed" in caplog.text


def test_a_demand_forecast_is_answered_and_logged_with_whether_it_was_a_what_if(api, tmp_path):
    snapshot_id = serve_predictors(api, demand_forecast=DemandStandIn())
    plain = api.post("/v1/demand/predict", json={"product_id": "p-1", "days": [FIRST_DAY.isoformat()]})
    assert plain.json() == {
        "product_id": "p-1",
        "days": [{"day": "2031-04-01", "p10": 1.0, "p50": 2.0, "p90": 3.0, "shown_price": 10.0, "promotion_pct": 0.0}],
        "what_if": False,
        "model_version": "df-3",
        "candidate": "challenger",
        "as_of": "2031-03-31",
        "snapshot_id": snapshot_id,
    }
    assert api.post("/v1/demand/predict", json={"product_id": "p-1", "days": ["2031-04-02"], "price": 8}).json()[
        "what_if"
    ]
    promotion = api.post("/v1/demand/predict", json={"product_id": "p-1", "days": ["2031-04-02"], "promotion_pct": 5})
    assert promotion.json()["what_if"] and promotion.json()["days"][0]["promotion_pct"] == 5.0
    lines = logged(tmp_path)
    assert [(line["endpoint"], line["model_version"], line["response"]["what_if"]) for line in lines] == [
        ("demand/predict", "df-3", False),
        ("demand/predict", "df-3", True),
        ("demand/predict", "df-3", True),
    ]
    assert lines[1]["request"] == {"product_id": "p-1", "days": ["2031-04-02"], "price": 8.0, "promotion_pct": None}


@pytest.mark.parametrize(
    "body, status, detail",
    [
        (
            {"product_id": "p-9", "days": ["2031-04-01"]},
            404,
            "product 'p-9' is not in the forecast: it has no sales history or catalog price up to the cut-off",
        ),
        (
            {"product_id": "p-1", "days": ["2031-04-09"]},
            422,
            "days: 2031-04-09 is outside the forecast horizon: ask for days from 2031-04-01 to 2031-04-03",
        ),
        (
            {"product_id": "p-1", "days": ["2031-04-01"], "promotion_pct": 99},
            422,
            "promotion_pct: a promotion needs a price on 2031-04-01",
        ),
    ],
)
def test_a_demand_request_the_forecast_cannot_answer_says_why_and_is_not_logged(api, tmp_path, body, status, detail):
    serve_predictors(api, demand_forecast=DemandStandIn())
    response = api.post("/v1/demand/predict", json=body)
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert logged(tmp_path) == []


def test_the_document_describes_the_running_server(tiny, published, tmp_path):
    with client_of(tiny, tmp_path) as open_client:
        document = open_client.get("/openapi.json").json()
        assert "securitySchemes" not in document.get("components", {})
        assert "401" not in document["paths"]["/v1/models"]["get"]["responses"]
        parameters = document["paths"]["/v1/customers/{customer_id}/scores"]["get"]["parameters"]
        assert [p["example"] for p in parameters if p["name"] == "customer_id"] == ["alice"]  # the smallest scored id
        scores_responses = document["paths"]["/v1/customers/{customer_id}/scores"]["get"]["responses"]
        assert scores_responses["404"]["description"].startswith("the customer has no scores")
        assert scores_responses["503"]["description"] == "no serving snapshot is loaded yet (see /readyz)"
        listed = document["paths"]["/v1/customers/{customer_id}/recommendations"]["get"]["parameters"]
        assert [(p["name"], p.get("example")) for p in listed] == [("customer_id", "alice"), ("k", None)]
        days = document["components"]["schemas"]["DemandRequest"]["properties"]["days"]["items"]
        assert "enum" not in days  # no forecast in this snapshot

        serve_predictors(open_client, demand_forecast=DemandStandIn())
        open_client.app.state.store.current = dataclasses.replace(
            open_client.app.state.store.current, snapshot_id="another"
        )
        described = open_client.get("/openapi.json").json()
        days = described["components"]["schemas"]["DemandRequest"]["properties"]["days"]["items"]
        assert days["enum"] == ["2031-04-01", "2031-04-02", "2031-04-03"]
        assert days["description"] == "a day of the served snapshot's forecast horizon: 2031-04-01 to 2031-04-03"
        demand = described["paths"]["/v1/demand/predict"]["post"]
        assert demand["responses"]["422"]["description"].endswith("; now: 2031-04-01 to 2031-04-03")
        assert demand["requestBody"]["content"]["application/json"]["example"] == {
            "product_id": "p-1",
            "days": ["2031-04-01", "2031-04-02"],
        }
        assert sorted(demand["responses"]) == ["200", "400", "404", "413", "422", "503"]
        store = open_client.app.state.store  # a snapshot whose models never scored a customer
        store.current = dataclasses.replace(store.current, scores={}, snapshot_id="no-scores", online={})
        bare = open_client.get("/openapi.json")
        assert bare.status_code == 200
        parameters = bare.json()["paths"]["/v1/customers/{customer_id}/scores"]["get"]["parameters"]
        assert [p.get("example") for p in parameters if p["name"] == "customer_id"] == [None]
    with client_of(tiny, tmp_path, token=TOKEN) as guarded:
        document = guarded.get("/openapi.json").json()
        bearer = document["components"]["securitySchemes"]["bearer"]
        assert bearer["scheme"] == "bearer"
        assert bearer["description"] == (  # where a caller learns how the server got its token
            "the token given to `shop-pipeline serve` (--token-file or $SHOP_PIPELINE_SERVE_TOKEN)"
        )
        assert document["paths"]["/v1/models"]["get"]["responses"]["401"]["headers"]["WWW-Authenticate"]
        assert "401" not in document["paths"]["/healthz"]["get"]["responses"]


def test_order_times_reach_the_model_in_utc_whatever_the_servers_time_zone(api, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/Sao_Paulo")  # UTC-3: a naive time must not be taken as local
    time.tzset()
    try:
        scorer = OrderRiskStandIn()
        serve_predictors(api, order_risk=scorer)
        naive = {
            **ORDER,
            "order_time": "2031-04-01T12:00:00",
            "session_id": "s",
            "first_cart_at": "2031-04-01T11:00:00",
        }
        assert api.post("/v1/orders/risk", json=naive).status_code == 200
        assert api.post("/v1/orders/risk", json=ORDER).status_code == 200  # +02:00
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert [(o.order_time, o.first_cart_at) for o in scorer.orders] == [
        (dt.datetime(2031, 4, 1, 12, 0), dt.datetime(2031, 4, 1, 11, 0)),
        (dt.datetime(2031, 4, 1, 10, 0), None),
    ]


def pseudonymised_snapshot(tiny, pseudonym):
    """The tiny shop's snapshot as a pseudonymised warehouse publishes it: customer ids are pseudonyms."""
    with connect(tiny.warehouse) as con:
        for table in ("scoring.customer_scores", "scoring.recommendations"):
            for customer in ("alice", "bob", "carol"):
                con.execute(
                    f"UPDATE {table} SET customer_id = $pseudonym WHERE customer_id = $customer",
                    {"pseudonym": pseudonym(customer), "customer": customer},
                )
        return publish_snapshot(con, tiny.serving, tiny.models)


def test_a_pseudonymised_snapshot_is_asked_with_real_ids_and_never_shows_a_pseudonym(tiny, tmp_path):
    """The snapshot of a pseudonymised warehouse holds pseudonyms only: callers send real ids, which
    are looked up (and logged) by their pseudonyms; answers echo the id sent; the document names no
    example customer (a pseudonym is no id a caller could send)."""
    from shop_pipeline.pseudonyms import Pseudonymiser

    pseudonym = Pseudonymiser(b"k" * 32)
    published = pseudonymised_snapshot(tiny, pseudonym)
    with client_of(tiny, tmp_path, pseudonymiser=pseudonym) as client:
        scores = client.get("/v1/customers/alice/scores").json()
        assert (scores["customer_id"], scores["p_purchase"], scores["snapshot_id"]) == (
            "alice",
            0.75,
            published.snapshot_id,
        )
        assert client.get(f"/v1/customers/{pseudonym('alice')}/scores").status_code == 404
        listed = client.get("/v1/customers/bob/recommendations").json()
        assert (listed["customer_id"], listed["source"], [i["product_id"] for i in listed["items"]]) == (
            "bob",
            "personalised",
            ["p-20", "p-21"],
        )
        carol = client.get("/v1/customers/carol/recommendations").json()  # scored, no list of her own
        assert carol["source"] == "fallback" and carol["reason"].startswith("customer has no published list")

        scorer = OrderRiskStandIn()
        serve_predictors(client, order_risk=scorer)
        answer = client.post("/v1/orders/risk", json={**ORDER, "session_id": "s-1", "session_views": 2})
        assert answer.status_code == 200 and answer.json()["customer_id"] == "alice"
        assert client.post("/v1/orders/risk", json={**ORDER, "order_id": "o-2"}).status_code == 200
        assert [(o.customer_id, o.session_id) for o in scorer.orders] == [
            (pseudonym("alice"), pseudonym("s-1")),
            (pseudonym("alice"), None),
        ]
        (first, second) = logged(tmp_path)
        assert (first["request"]["customer_id"], first["request"]["session_id"]) == (
            pseudonym("alice"),
            pseudonym("s-1"),
        )
        assert first["response"]["customer_id"] == pseudonym("alice") and second["request"]["session_id"] is None

        document = client.get("/openapi.json").json()
        parameters = document["paths"]["/v1/customers/{customer_id}/scores"]["get"]["parameters"]
        assert [p.get("example") for p in parameters if p["name"] == "customer_id"] == [None]


def test_serve_and_its_workers_look_ids_up_under_the_configured_pseudonym_key(tiny, monkeypatch):
    """`shop-pipeline serve` in a pseudonymised shop (uvicorn itself not started): the app it runs, and
    the app each worker builds from the environment, take real ids; a bad key stops it before serving."""
    import uvicorn

    from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV, Pseudonymiser
    from shop_pipeline.serving import server

    key = "k" * 32
    pseudonymised_snapshot(tiny, Pseudonymiser(key.encode()))
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(app))
    for name in ("OMP_NUM_THREADS", "SHOP_PIPELINE_THREADS", server.ROOT_ENV, server.TOKEN_ENV, PSEUDONYM_KEY_FILE_ENV):
        monkeypatch.setenv(name, "")  # recorded, so what serve() sets is undone after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "short")
    with pytest.raises(server.ServeConfigError, match=f"{PSEUDONYM_KEY_ENV}: the key has 5 bytes, at least"):
        server.serve(tiny.serving.parent)
    assert calls == []

    monkeypatch.setenv(PSEUDONYM_KEY_ENV, key)
    server.serve(tiny.serving.parent)
    monkeypatch.setenv(server.ROOT_ENV, str(tiny.serving))
    for app in (*calls, server.app_from_environment()):
        with TestClient(app) as client:
            assert client.get("/v1/customers/alice/scores").json()["p_purchase"] == 0.75


def test_a_body_streamed_in_chunks_is_counted_whole_against_the_limit(tiny, tmp_path):
    """A server hands a chunked body over in pieces (TestClient sends it in one): the limit is on their sum."""
    import asyncio

    app = create_app(tiny.serving, max_body_bytes=1000, prediction_log=PredictionLog(tmp_path / "logs"))

    def status_of(chunks: list[bytes]) -> int:
        messages = [
            {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1} for n, chunk in enumerate(chunks)
        ]
        sent = []

        async def receive() -> dict:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/orders/risk",
            "raw_path": b"/v1/orders/risk",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],  # no Content-Length: chunked
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        asyncio.run(app(scope, receive, send))
        return next(m["status"] for m in sent if m["type"] == "http.response.start")

    assert status_of([b"x" * 100] * 11) == 413  # no piece over the limit, their sum is
    assert status_of([b"x" * 100] * 10) == 422  # at the limit: read whole, then refused as not JSON


def test_without_a_log_given_answers_are_logged_where_the_pipeline_ingests_them(tiny, published):
    import duckdb

    from shop_pipeline.serving.prediction_log import ingest_prediction_logs

    with TestClient(create_app(tiny.serving)) as client:  # as `serve` builds it: no PredictionLog given
        serve_predictors(client, order_risk=OrderRiskStandIn())
        assert client.post("/v1/orders/risk", json=ORDER).status_code == 200
    con = duckdb.connect()
    con.execute("CREATE SCHEMA monitoring")
    # the folder the pipeline's online_predictions asset reads (defs/serving.py)
    assert ingest_prediction_logs(con, tiny.serving / "logs", now=dt.datetime(2031, 4, 2)) == 1


def test_the_document_names_the_api_and_its_version(api):
    info = api.get("/openapi.json").json()["info"]
    assert (info["title"], info["version"]) == ("shop_pipeline online API", "1")
    assert info["description"].startswith("The champions of the last pipeline run")


def test_the_body_limit_sends_one_answer_and_never_invents_one():
    """BodyLimit around an app that answers before it reads the body (its answer stays the only one when
    the body then runs over), and around one that answers nothing (no 413 is made up)."""
    import asyncio

    from shop_pipeline.serving.app import BodyLimit

    async def answers_then_reads(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        while (await receive()).get("more_body"):
            pass

    async def answers_nothing(scope, receive, send):
        return None

    def starts(app) -> list[int]:
        messages = [{"type": "http.request", "body": b"x" * 100, "more_body": True} for _ in range(20)]
        sent = []

        async def receive() -> dict:
            return messages.pop(0)

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}  # chunked: no Content-Length
        asyncio.run(BodyLimit(app, limit=1000)(scope, receive, send))
        return [m["status"] for m in sent if m["type"] == "http.response.start"]

    assert starts(answers_then_reads) == [200]
    assert starts(answers_nothing) == []
