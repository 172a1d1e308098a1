"""Demand prediction online: for every product of the shop the API's forecast equals scoring.demand_forecasts,
and a what-if price or promotion is what the forecast assumes."""

import datetime as dt

import pytest

from shop_pipeline_tests.serving.helpers import table


@pytest.fixture(scope="module")
def batch(shop):
    forecasts: dict[str, list] = {}
    for product, day, p10, p50, p90, version in table(
        shop,
        "SELECT product_id, day, p10, p50, p90, model_version FROM scoring.demand_forecasts ORDER BY product_id, day",
    ):
        forecasts.setdefault(product, []).append((day, p10, p50, p90, version))
    return forecasts


def test_every_products_forecast_equals_the_batch_table(api, batch):
    assert len(batch) > 50
    different = []
    for product, rows in batch.items():
        response = api.post(
            "/v1/demand/predict", json={"product_id": product, "days": [d.isoformat() for d, *_ in rows]}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        served = [
            (dt.date.fromisoformat(d["day"]), d["p10"], d["p50"], d["p90"], body["model_version"]) for d in body["days"]
        ]
        if served != rows or body["what_if"]:
            different.append(product)
    assert different == []


def test_a_what_if_price_and_promotion_are_what_the_forecast_assumes(api, batch):
    product, rows = next((p, r) for p, r in batch.items() if max(x[2] for x in r) > 0)
    day = rows[0][0].isoformat()
    assumed = api.post("/v1/demand/predict", json={"product_id": product, "days": [day]}).json()["days"][0]
    cheaper = api.post("/v1/demand/predict", json={"product_id": product, "days": [day], "price": 1.0}).json()
    assert cheaper["what_if"] and cheaper["days"][0]["shown_price"] == 1.0
    promoted = api.post("/v1/demand/predict", json={"product_id": product, "days": [day], "promotion_pct": 10}).json()
    regular = assumed["shown_price"] / (1 - assumed["promotion_pct"] / 100)
    assert promoted["days"][0]["promotion_pct"] == 10.0
    assert promoted["days"][0]["shown_price"] == pytest.approx(regular * 0.9)
    for answer in (cheaper, promoted):
        day_forecast = answer["days"][0]
        assert 0 <= day_forecast["p10"] <= day_forecast["p50"] <= day_forecast["p90"]


@pytest.mark.parametrize(
    "change, status, message",
    [
        ({"days": ["2099-01-01"]}, 422, "outside the forecast horizon"),
        ({"days": []}, 422, "days"),
        ({"price": -3}, 422, "price"),
        ({"promotion_pct": 100}, 422, "promotion_pct"),
        ({"product_id": "no-such-product"}, 404, "no-such-product"),
    ],
)
def test_bad_demand_requests_get_a_4xx_that_says_why(api, batch, change, status, message):
    product, rows = next(iter(batch.items()))
    body = {"product_id": product, "days": [rows[0][0].isoformat()], **change}
    response = api.post("/v1/demand/predict", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"] and "Traceback" not in response.text


def test_the_model_path_gives_the_batch_forecast_for_every_product(shop, batch):
    """Requests without a what-if are answered from the batch rows in the snapshot; the model path that
    answers what-ifs must give exactly those numbers for the batch's own assumptions."""
    from shop_pipeline.serving.snapshot import current_snapshot_dir, serving_root
    from shop_pipeline.serving.store import Snapshot

    predictor = Snapshot.load(current_snapshot_dir(serving_root(shop.home))).demand
    different = []
    for product, rows in batch.items():
        forecast = predictor.predict(product, [d for d, *_ in rows], from_model=True)
        if [(f.day, f.p10, f.p50, f.p90) for f in forecast] != [(d, a, b, c) for d, a, b, c, _ in rows]:
            different.append(product)
    assert different == []
