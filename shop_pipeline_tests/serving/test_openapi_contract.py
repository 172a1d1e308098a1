"""The API's OpenAPI document tells the truth: schemathesis runs every check against a real
`shop-pipeline serve`, once without a token and once with one (issue 25).

Every check of schemathesis runs (`--checks all`): the answers' statuses, bodies, content types and
headers are the documented ones, schema-valid requests are accepted and schema-violating ones refused,
an operation declared secured refuses a request without the token, and nothing is a 500. The only
change to schemathesis' defaults is in schemathesis.toml next to this file, with its reason.
Generation is deterministic (the same requests every run), bounded by EXAMPLES per operation.

Random generation reaches some error answers only now and then (a body that is not UTF-8: 400; one
over 64 KiB: 413), so each error status is also provoked once on purpose and checked against the
document: documented for that operation, and the one error body, Problem.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shop_pipeline.serving.snapshot import CURRENT_FILE, current_snapshot_dir, serving_root
from shop_pipeline.settings import ShopPaths
from shop_pipeline_tests.serving.server_process import running_server

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = 100  # per operation and phase: a run takes 15-30 s here
# Generation is deterministic, so the run without a token sends the same kind of requests to the same
# app minus its token check: a fifth of the examples covers what differs (no security scheme, no 401)
# and the with-token run keeps the full budget.
EXAMPLES_WITHOUT_TOKEN = 20
TOKEN = "contract-test-token"
PROBLEM = {"$ref": "#/components/schemas/Problem"}
SCORES = "/v1/customers/{customer_id}/scores"
RECOMMENDATIONS = "/v1/customers/{customer_id}/recommendations"
JSON = {"content-type": "application/json"}
NOT_UTF8 = b'{"product_id": "\xff"}'


@pytest.fixture(scope="module")
def served_home(shop, tmp_path_factory):
    """A home holding a copy of the shop's current snapshot only: the orders and forecasts schemathesis
    asks for are logged here rather than in the shared shop, and a snapshot another test publishes does not
    change the document during a run."""
    home = ShopPaths.at(tmp_path_factory.mktemp("contract")).ensure().home
    snapshot = current_snapshot_dir(serving_root(shop.home))
    root = serving_root(home)
    shutil.copytree(snapshot, root / "snapshots" / snapshot.name)
    (root / CURRENT_FILE).write_text(snapshot.name)
    return home


def schemathesis(url: str, *options: str, cwd: Path, examples: int = EXAMPLES) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(CONFIG),
            "run",
            url,
            "--checks",
            "all",
            "--max-examples",
            str(examples),
            "--generation-deterministic",
            # one worker: the server has two cores at most here, and hypothesis' lambda descriptions are not
            # thread-safe on Python 3.11 (a SystemError in ast.parse with two workers)
            "--workers",
            "1",
            "--no-color",
            "--output-sanitize",
            "false",
            *options,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def assert_documented(document: dict, method: str, path: str, response: httpx.Response, status: int) -> None:
    """The answer has the expected status, the operation documents it, and its body is the documented Problem."""
    where = f"{method} {response.request.url} -> {response.status_code} {response.text[:300]}"
    assert response.status_code == status, where
    documented = operations(document)[method, path]["responses"]
    assert str(status) in documented, f"{where}: not documented ({sorted(documented)})"
    assert documented[str(status)]["content"]["application/json"]["schema"] == PROBLEM, where
    body = response.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str) and body["detail"], where


def provoke_every_error(client: httpx.Client, document: dict, token: str | None) -> None:
    demand = operations(document)["POST", "/v1/demand/predict"]
    example = demand["requestBody"]["content"]["application/json"]["example"]  # the served snapshot's
    assert client.post("/v1/demand/predict", json=example).status_code == 200  # the example is true
    customer = next(
        p["example"] for p in operations(document)["GET", SCORES]["parameters"] if p["name"] == "customer_id"
    )
    assert client.get(f"/v1/customers/{customer}/scores").status_code == 200
    order = {
        "customer_id": customer,
        "order_id": "o1",
        "order_time": "2025-03-02T10:00:00Z",
        "items": [{"product_id": example["product_id"], "price": 10.0, "quantity": 1}],
    }
    cases = [
        ("GET", SCORES, "/v1/customers/nobody-ever/scores", {}, 404),
        ("GET", SCORES, "/v1/customers/a%2Fb/scores", {}, 404),  # an id with a slash matches no path
        ("GET", SCORES, f"/v1/customers/{'c' * 201}/scores", {}, 422),
        ("GET", RECOMMENDATIONS, "/v1/customers/c1/recommendations?k=0", {}, 422),
        ("GET", RECOMMENDATIONS, "/v1/customers/a%2Fb/recommendations", {}, 404),
        ("POST", "/v1/orders/risk", "/v1/orders/risk", {"content": NOT_UTF8, "headers": JSON}, 400),
        ("POST", "/v1/orders/risk", "/v1/orders/risk", {"content": b"{not json", "headers": JSON}, 422),
        ("POST", "/v1/orders/risk", "/v1/orders/risk", {"json": {**order, "session_views": 3}}, 422),
        ("POST", "/v1/orders/risk", "/v1/orders/risk", {"json": {**order, "order_time": 0}}, 422),
        ("POST", "/v1/demand/predict", "/v1/demand/predict", {"content": NOT_UTF8, "headers": JSON}, 400),
        ("POST", "/v1/demand/predict", "/v1/demand/predict", {"json": {**example, "product_id": "nope"}}, 404),
        ("POST", "/v1/demand/predict", "/v1/demand/predict", {"json": {**example, "days": ["2099-01-01"]}}, 422),
        ("POST", "/v1/demand/predict", "/v1/demand/predict", {"json": {**example, "price": True}}, 422),
    ]
    cases += [
        (method, path, path.replace("{customer_id}", customer), {"content": b"x" * (65 * 1024), "headers": JSON}, 413)
        for method, path in operations(document)
    ]
    for method, path, url, options, status in cases:
        assert_documented(document, method, path, client.request(method, url, **options), status)
    if token is None:
        return
    for method, path in operations(document):
        if path.startswith("/v1/"):
            url = path.replace("{customer_id}", customer)
            for authorization in (None, "Bearer wrong", "Basic x"):
                headers = {"Authorization": authorization} if authorization else {}
                with httpx.Client(base_url=client.base_url, headers=headers, timeout=10) as stranger:
                    response = stranger.request(method, url, json=example if method == "POST" else None)
                assert_documented(document, method, path, response, 401)
                assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", [None, TOKEN], ids=["without-token", "with-token"])
def test_the_openapi_document_tells_the_truth(served_home, tmp_path, token):
    options, auth = [], []
    if token is not None:
        token_file = tmp_path / "token"
        token_file.write_text(token)
        options = ["--token-file", str(token_file)]
        auth = ["--header", f"Authorization: Bearer {token}"]
    with running_server(served_home, *options) as client:
        if token is not None:
            client.headers["Authorization"] = f"Bearer {token}"
        document = client.get("/openapi.json").json()
        secured = {
            f"{method} {path}": operation.get("security") for (method, path), operation in operations(document).items()
        }
        if token is None:  # no token: no security scheme (so no Authorization header) and no 401
            assert "securitySchemes" not in document["components"]
            assert set(secured.values()) == {None}
        else:  # a token: bearer security on every /v1 operation, and only there
            assert list(document["components"]["securitySchemes"]) == ["bearer"]
            assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
            assert {name for name, security in secured.items() if security == [{"bearer": []}]} == {
                name for name in secured if name.split()[1].startswith("/v1/")
            }
        assert {"HTTPValidationError", "ValidationError"}.isdisjoint(document["components"]["schemas"])
        provoke_every_error(client, document, token)
        examples = EXAMPLES if token is not None else EXAMPLES_WITHOUT_TOKEN
        done = schemathesis(f"{client.base_url}/openapi.json", *auth, cwd=tmp_path, examples=examples)
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"schemathesis found the document and the server disagreeing:\n{report}"
    assert "Tested: 7" in report and "No issues found" in report, report


def test_without_a_snapshot_every_v1_operation_answers_the_documented_503(tmp_path):
    bodies = {
        "/v1/orders/risk": {
            "customer_id": "c1",
            "order_id": "o1",
            "order_time": "2025-03-02T10:00:00",
            "items": [{"product_id": "p1", "price": 1.0, "quantity": 1}],
        },
        "/v1/demand/predict": {"product_id": "p1", "days": ["2025-03-02"]},
    }
    empty = ShopPaths.at(tmp_path / "empty").ensure()
    with running_server(empty.home, wait_ready=False) as client:
        document = client.get("/openapi.json").json()
        assert "enum" not in document["components"]["schemas"]["DemandRequest"]["properties"]["days"]["items"]
        for method, path in operations(document):
            if path.startswith("/v1/"):
                response = client.request(method, path.replace("{customer_id}", "c1"), json=bodies.get(path))
                assert_documented(document, method, path, response, 503)


def test_the_document_describes_what_the_served_snapshot_accepts(shop, api):
    """A schema-valid request is one the server can answer: the forecast's days are the enum of a demand
    request (and named in the 422's description), and the examples are a real product and customer."""
    from shop_pipeline.serving.app import DEMAND_422
    from shop_pipeline.serving.store import Snapshot
    from shop_pipeline_tests.serving.helpers import table

    predictor = Snapshot.load(current_snapshot_dir(serving_root(shop.home))).demand
    days = [day.isoformat() for day in predictor.days]
    assert len(days) == predictor.horizon_days > 2
    document = api.get("/openapi.json").json()
    item = document["components"]["schemas"]["DemandRequest"]["properties"]["days"]["items"]
    assert item["enum"] == days
    assert item["description"] == f"a day of the served snapshot's forecast horizon: {days[0]} to {days[-1]}"
    operation = document["paths"]["/v1/demand/predict"]["post"]
    assert operation["responses"]["422"]["description"] == f"{DEMAND_422}; now: {days[0]} to {days[-1]}"
    product = table(shop, "SELECT min(product_id) FROM scoring.demand_forecasts")[0][0]
    example = operation["requestBody"]["content"]["application/json"]["example"]
    assert example == {"product_id": product, "days": days[:2]}
    assert api.post("/v1/demand/predict", json=example).status_code == 200
    customer = table(shop, "SELECT min(customer_id) FROM scoring.customer_scores")[0][0]
    examples = [
        (path, parameter.get("example"))
        for path, operations in document["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", ())
        if parameter["name"] == "customer_id"
    ]
    assert sorted(examples) == sorted([(SCORES, customer), (RECOMMENDATIONS, customer)])
