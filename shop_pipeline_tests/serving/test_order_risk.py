"""Order risk online: the features of every order of the shop equal features.order_features, and over
real HTTP every order's score equals scoring.order_risk_scores' for the same model version."""

import math
import random
import uuid

import pandas as pd
import pytest

from shop_pipeline.features.order_features import EXPENSIVE_RATIO
from shop_pipeline.ml.order_risk.order_history import ORDERS_AS_SENT, OnlineOrder, OrderHistory
from shop_pipeline.serving.snapshot import current_snapshot_dir, serving_root
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.serving.helpers import table

COMPARED = (
    "amount",
    "items",
    "units",
    "distinct_products",
    "distinct_categories",
    "max_item_price",
    "mean_unit_price",
    "expensive_item_share",
    "max_price_vs_category",
    "prev_orders",
    "is_first_order",
    "prev_mean_amount",
    "prev_std_amount",
    "amount_vs_customer_mean",
    "amount_zscore",
    "days_since_prev_order",
    "orders_last_1h",
    "orders_last_24h",
    "amount_last_24h",
    "account_age_days",
    "customer_events_before",
    "categories_before",
    "new_category_share",
    "is_new_category",
    "session_views",
    "session_carts",
    "cart_to_purchase_seconds",
    "session_seconds",
    "order_hour",
    "hour_order_share",
)


@pytest.fixture(scope="module")
def orders(shop):
    with connect(shop.warehouse) as con:
        return con.execute(ORDERS_AS_SENT).df()


def same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, float) or isinstance(b, float):
        return (
            b is not None
            and not (isinstance(b, float) and math.isnan(b))
            and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        )
    return a == b


def test_every_orders_online_features_equal_the_batch_row(shop, orders):
    history = OrderHistory(current_snapshot_dir(serving_root(shop.home)), EXPENSIVE_RATIO)
    with connect(shop.warehouse) as con:
        batch = con.execute("SELECT * FROM features.order_features").df().set_index(["customer_id", "order_id"])
    assert len(orders) == len(batch) > 300
    mismatches = []
    for row in orders.itertuples(index=False):
        features = history.features(OnlineOrder.from_row(row))
        expected = batch.loc[(row.customer_id, row.order_id)]
        for column in COMPARED:
            want = expected[column]
            want = None if pd.isna(want) else (want.item() if hasattr(want, "item") else want)
            if not same(features[column], want):
                mismatches.append((row.order_id, column, features[column], want))
    assert mismatches == []


def test_every_orders_score_over_http_equals_the_batch_score(shop, api, orders):
    with connect(shop.warehouse) as con:
        batch = {
            (c, o): (s, f, v)
            for c, o, s, f, v in con.execute(
                "SELECT customer_id, order_id, risk_score, flagged, model_version FROM scoring.order_risk_scores"
            ).fetchall()
        }
    differences = []
    for row in orders.itertuples(index=False):
        order = OnlineOrder.from_row(row)
        response = api.post("/v1/orders/risk", json=order.to_request())
        assert response.status_code == 200, response.text
        answer = response.json()
        score, flagged, version = batch[(order.customer_id, order.order_id)]
        if not (
            math.isclose(answer["risk_score"], score, rel_tol=1e-9, abs_tol=1e-12)
            and answer["flagged"] == flagged
            and answer["model_version"] == version
        ):
            differences.append((order.order_id, answer["risk_score"], score, answer["flagged"], flagged))
    assert differences == []
    assert len(batch) == len(orders)


def test_a_new_customers_order_is_scored_and_explained(api):
    response = api.post(
        "/v1/orders/risk",
        json={
            "customer_id": "brand-new",
            "order_id": "o-new-1",
            "order_time": "2031-01-01T03:00:00+02:00",
            "items": [{"product_id": "p1", "price": 999.0, "quantity": 3}],
        },
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["known_customer"] is False and answer["risk_score"] >= 0
    assert all("=" in part for part in answer["top_features"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"items": []}, "items"),
        ({"items": [{"product_id": "p1", "price": -1, "quantity": 1}]}, "price"),
        ({"items": [{"product_id": "p1", "price": 10, "quantity": 0}]}, "quantity"),
        ({"order_time": "yesterday"}, "order_time"),
        # session facts without a session: refused, not scored with the facts dropped
        ({"session_views": 3}, "session_id"),
        ({"session_carts": 1}, "session_id"),
        ({"first_cart_at": "2024-12-31T23:55:00"}, "session_id"),
        ({"session_started_at": "2024-12-31T23:50:00"}, "session_id"),
        (
            {"session_id": None, "session_views": 2, "session_carts": 1, "first_cart_at": "2024-12-31T23:55:00"},
            "session_id",
        ),
        ({"items": [{"product_id": "p1", "price": 1, "quantity": 1}] * 501}, "items"),
    ],
)
def test_bad_orders_get_a_422_that_names_the_field(api, change, message):
    body = {
        "customer_id": "c1",
        "order_id": "o1",
        "order_time": "2025-01-01T00:00:00",
        "items": [{"product_id": "p1", "price": 10.0, "quantity": 1}],
        **change,
    }
    response = api.post("/v1/orders/risk", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"] and "Traceback" not in response.text
    assert "risk_score" not in response.json()


def test_malformed_json_is_a_422(api):
    response = api.post("/v1/orders/risk", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["detail"]


def test_answers_reach_monitoring_online_predictions_exactly_once(shop, api):
    """The test makes its own answers (an order and a demand what-if no other test sends), then ingests twice."""
    from dagster import DagsterInstance, materialize

    from shop_pipeline.defs.serving import online_predictions
    from shop_pipeline.resources import default_resources

    order_id = f"o-once-{uuid.uuid4().hex[:12]}"
    price = round(random.uniform(1000, 2000), 4)  # marks this test's demand request in the log
    product_id, day = table(
        shop, "SELECT product_id, CAST(min(day) AS VARCHAR) FROM scoring.demand_forecasts GROUP BY 1 ORDER BY 1 LIMIT 1"
    )[0]
    risk = api.post(
        "/v1/orders/risk",
        json={
            "customer_id": "c-once",
            "order_id": order_id,
            "order_time": "2031-01-01T10:00:00",
            "items": [{"product_id": product_id, "price": 5.0, "quantity": 1}],
        },
    )
    demand = api.post("/v1/demand/predict", json={"product_id": product_id, "days": [day], "price": price})
    assert risk.status_code == 200 and demand.status_code == 200, (risk.text, demand.text)

    added = []
    for _ in range(2):  # a second ingestion of the same logs adds nothing
        result = materialize(
            [online_predictions], resources=default_resources(shop), instance=DagsterInstance.ephemeral()
        )
        assert result.success
        added.append(result.asset_materializations_for_node("online_predictions")[0].metadata["rows_added"].value)
    assert added[0] >= 2 and added[1] == 0
    with connect(shop.warehouse) as con:
        total, distinct = con.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM monitoring.online_predictions"
        ).fetchone()
        mine = con.execute(
            "SELECT endpoint, model_version, CAST(response->>'risk_score' AS DOUBLE) FROM monitoring.online_predictions "
            "WHERE (endpoint = 'orders/risk' AND request->>'order_id' = $order_id) "
            "OR (endpoint = 'demand/predict' AND CAST(request->>'price' AS DOUBLE) = $price) ORDER BY endpoint",
            {"order_id": order_id, "price": price},
        ).fetchall()
    assert total == distinct
    assert mine == [
        ("demand/predict", demand.json()["model_version"], None),
        ("orders/risk", risk.json()["model_version"], risk.json()["risk_score"]),
    ]
