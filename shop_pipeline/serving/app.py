"""The online API over the current serving snapshot (FastAPI; run by `shop-pipeline serve`).

Every answer comes from one snapshot object taken at the start of the request (see
serving/store.py). Every 4xx has one body, `Problem` ({"detail": "<what to change>"}), FastAPI's own
validation and parsing errors included, and the OpenAPI document lists each operation's statuses.
The document describes the running server: bearer security only when a token is configured, and
the demand days the served snapshot accepts. An unexpected error is a 500 with a request id and no
traceback (the traceback goes to the server's log).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hmac
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from shop_pipeline.ml.demand_forecast.online import DayOutsideHorizon, UnknownProduct
from shop_pipeline.ml.order_risk.order_history import OnlineOrder, OrderLine
from shop_pipeline.pseudonyms import Pseudonymiser
from shop_pipeline.serving.prediction_log import PredictionLog
from shop_pipeline.serving.schemas import (
    ChampionModel,
    CustomerScores,
    DayDemand,
    DemandRequest,
    DemandResponse,
    Health,
    ModelsResponse,
    OrderRiskRequest,
    OrderRiskResponse,
    Problem,
    RecommendationsResponse,
    RecommendedProduct,
)
from shop_pipeline.serving.store import Snapshot, SnapshotStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_K = 100
CUSTOMER_ID = PathParam(min_length=1, max_length=200, description="the shop's customer id (user_id in the events)")

# The statuses of the OpenAPI document, each with the one error body (Problem). 401 is added to every
# /v1 operation when a token is configured; 413 can answer any request (BodyLimit runs first).
TOO_LARGE = "the body is over the limit (64 KiB by default), or its Content-Length is not a number"
NOT_JSON = "the body is not UTF-8 text, so not JSON"
NO_SNAPSHOT = "no serving snapshot is loaded yet (see /readyz)"
UNAUTHORISED = {
    "model": Problem,
    "description": "no `Authorization: Bearer <token>` header, or a wrong token",
    "headers": {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
}


def _problems(statuses: dict[int, str]) -> dict[int | str, dict]:
    return {status: {"model": Problem, "description": text} for status, text in sorted(statuses.items())}


def _utc(value: datetime) -> datetime:
    """An aware time in UTC without its offset; a naive one is taken as UTC (as the events' times)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, declared or streamed (plain ASGI, so
    a chunked body is counted as it arrives and never read whole)."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(self.limit, send)
            return
        seen, refused, started = 0, False, False

        async def limited() -> dict:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _BodyTooLarge()
            return message

        async def unless_refused(message: dict) -> None:
            # FastAPI turns any error while it reads the body (ours included) into its own 400 answer:
            # once the body is refused, that answer is dropped and the 413 sent instead
            nonlocal started
            if not refused:
                started = True
                await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited, unless_refused)
        if refused and not started:
            await _too_large(self.limit, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    response = JSONResponse({"detail": f"request body over {limit} bytes; send smaller batches"}, status_code=413)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict:
    return {"type": "http.disconnect"}


def create_app(
    serving_root: str | Path,
    token: str | None = None,
    watch_seconds: float = 1.0,
    max_body_bytes: int = MAX_BODY_BYTES,
    prediction_log: PredictionLog | None = None,
    pseudonymiser: Pseudonymiser | None = None,
) -> FastAPI:
    """The API over the snapshots published under `serving_root` (<shop home>/serving).

    With `token`, every /v1 request needs `Authorization: Bearer <token>`. With `pseudonymiser`
    (the warehouse's pseudonym key, pseudonyms.py) callers still send real customer and session
    ids: they are looked up, and logged, by their pseudonyms; answers echo the id sent.
    """

    def stored(value: str | None) -> str | None:
        """The id as the snapshot (and the prediction log) holds it."""
        return pseudonymiser(value) if pseudonymiser is not None and value is not None else value

    store = SnapshotStore(serving_root)
    predictions = prediction_log or PredictionLog(Path(serving_root) / "logs")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store.start(interval_seconds=watch_seconds)
        try:
            yield
        finally:
            store.stop()
            predictions.close()

    app = FastAPI(
        title="shop_pipeline online API",
        version="1",
        description="The champions of the last pipeline run: recommendations, customer scores, models.",
        lifespan=lifespan,
    )
    app.state.store = store
    # The document declares bearer security (and 401) only when a token is configured: a server
    # without one answers without an Authorization header, and its document says so.
    bearer = HTTPBearer(
        auto_error=False,
        scheme_name="bearer",
        description="the token given to `shop-pipeline serve` (--token-file or $SHOP_PIPELINE_SERVE_TOKEN)",
    )

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    guard = [Depends(authorised)] if token is not None else []

    def errors(statuses: dict[int, str]) -> dict[int | str, dict]:
        """The 4xx / 503 responses of a /v1 operation: its own, 413, 503 and (with a token) 401."""
        documented = _problems({413: TOO_LARGE, 503: NO_SNAPSHOT, **statuses})
        if token is not None:
            documented[401] = UNAUTHORISED
        return dict(sorted(documented.items()))

    def snapshot() -> Snapshot:
        current = store.current
        if current is None:
            raise HTTPException(
                status_code=503,
                detail="no serving snapshot is loaded yet: run the pipeline "
                "(shop-pipeline run) so that the scoring stage publishes one",
            )
        return current

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            if error.get("type") == "json_invalid":  # loc is ("body", <character>)
                reason = (error.get("ctx") or {}).get("error", "invalid")
                problems.append(f"body: JSON decode error at character {error['loc'][-1]}: {reason}")
                continue
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Ours and the framework's (404 no such path, 405, 400 an unparsable body): always a string detail."""
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = f"{NOT_JSON}: send the JSON body in UTF-8"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.exception("request %s failed", request_id, exc_info=exc)
        return JSONResponse(
            {"detail": f"internal error (request id {request_id}; see the server log)"}, status_code=500
        )

    @app.get("/healthz", response_model=Health, responses=_problems({413: TOO_LARGE}), tags=["operations"])
    async def healthz() -> Health:
        """The process is up (it may not have a snapshot yet: see /readyz)."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["operations"],
        responses={**_problems({413: TOO_LARGE}), 503: {"model": Health, "description": "no snapshot is loaded yet"}},
    )
    async def readyz():
        """Ready once a snapshot is loaded."""
        current = store.current
        if current is None:
            return JSONResponse(
                Health(status="not_ready", detail=store.last_error or "no snapshot published yet").model_dump(),
                status_code=503,
            )
        return Health(status="ready", snapshot_id=current.snapshot_id, detail=store.last_error)

    @app.get("/v1/models", response_model=ModelsResponse, responses=errors({}), tags=["models"], dependencies=guard)
    async def models() -> ModelsResponse:
        """The champions the snapshot's scores came from."""
        current = snapshot()
        return ModelsResponse(
            snapshot_id=current.snapshot_id,
            published_at=current.manifest.get("published_at"),
            as_of=current.as_of,
            models=[ChampionModel(**m) for m in current.models],
        )

    @app.get(
        "/v1/customers/{customer_id}/recommendations",
        response_model=RecommendationsResponse,
        tags=["customers"],
        dependencies=guard,
        responses=errors(
            {
                404: "no such path: the customer id contains a `/` (or is `.` / `..`)",
                422: "customer_id or k out of range",
            }
        ),
    )
    async def recommendations(
        customer_id: str = CUSTOMER_ID, k: int = Query(10, ge=1, le=MAX_K, description="how many products")
    ) -> RecommendationsResponse:
        """The customer's published top-k list; an unknown or cold customer gets the popular list and the reason."""
        current = snapshot()
        items, version = current.recommendations(stored(customer_id), k)
        if items:
            return RecommendationsResponse(
                customer_id=customer_id,
                source="personalised",
                items=[RecommendedProduct(**vars(i)) for i in items],
                model_version=version,
                as_of=current.as_of,
                snapshot_id=current.snapshot_id,
            )
        reason = (
            "customer has no interaction before the cut-off (unknown or new): the most popular products"
            if stored(customer_id) not in current.scores
            else "customer has no published list (outside the recommendation window): the most popular products"
        )
        return RecommendationsResponse(
            customer_id=customer_id,
            source="fallback",
            reason=reason,
            items=[RecommendedProduct(**vars(i)) for i in current.fallback[:k]],
            model_version=current.recommendation_version(),
            as_of=current.as_of,
            snapshot_id=current.snapshot_id,
        )

    @app.get(
        "/v1/customers/{customer_id}/scores",
        response_model=CustomerScores,
        tags=["customers"],
        dependencies=guard,
        responses=errors(
            {
                404: "the customer has no scores (no event of theirs before the last run's cut-off), or no such "
                "path (the customer id contains a `/`)",
                422: "customer_id out of range",
            }
        ),
    )
    async def scores(customer_id: str = CUSTOMER_ID) -> CustomerScores:
        """Purchase propensity, churn risk, expected orders and spend, and segment of a known customer."""
        current = snapshot()
        row = current.scores.get(stored(customer_id))
        if row is None:
            raise HTTPException(
                status_code=404,
                detail=f"customer {customer_id!r} has no scores: no event of theirs reached the last run's cut-off",
            )
        p, churn, orders, spend, segment, version, as_of = row
        return CustomerScores(
            customer_id=customer_id,
            p_purchase=p,
            churn_risk=churn,
            expected_orders=orders,
            expected_spend=spend,
            segment=segment,
            model_version=version,
            as_of=as_of,
            snapshot_id=current.snapshot_id,
        )

    @app.post(
        "/v1/orders/risk",
        response_model=OrderRiskResponse,
        tags=["orders"],
        dependencies=guard,
        responses=errors(
            {
                400: NOT_JSON,
                422: "the body is not the JSON of an OrderRiskRequest: a field out of range, malformed JSON, "
                "session facts (session_views, session_carts, first_cart_at) without a session_id (the "
                "schema's anyOf), or a time on 0001-01-01 or 9999-12-31 (its pattern)",
                503: f"{NO_SNAPSHOT}, or the snapshot has no order-risk champion",
            }
        ),
    )
    def order_risk(order: OrderRiskRequest) -> OrderRiskResponse:
        """Risk of a new order: its features from the customer's history up to the last run plus the order
        itself (the definitions of features.order_features), scored by the order-risk champion."""
        current = snapshot()
        scorer = current.order_risk
        if scorer is None:
            raise HTTPException(
                status_code=503,
                detail="this snapshot has no order-risk champion (order risk was not scored in the last run)",
            )
        online = OnlineOrder(
            customer_id=stored(order.customer_id),
            order_id=order.order_id,
            order_time=_utc(order.order_time),
            session_id=stored(order.session_id),
            session_started_at=_utc(order.session_started_at) if order.session_started_at else None,
            session_views=order.session_views,
            session_carts=order.session_carts,
            first_cart_at=_utc(order.first_cart_at) if order.first_cart_at else None,
            lines=tuple(OrderLine(i.product_id, i.category, float(i.price), int(i.quantity)) for i in order.items),
        )
        if online.session_id is None and (
            order.session_started_at or order.session_views or order.session_carts or order.first_cart_at
        ):
            raise HTTPException(
                status_code=422,
                detail="session_started_at, session_views, session_carts and first_cart_at need a session_id",
            )
        answer = scorer.score(online)
        response = OrderRiskResponse(
            order_id=order.order_id,
            customer_id=order.customer_id,
            risk_score=answer.risk_score,
            flagged=answer.flagged,
            threshold=answer.threshold,
            top_features=answer.top_features,
            known_customer=answer.known_customer,
            model_version=scorer.version,
            snapshot_id=current.snapshot_id,
        )
        logged_request = order.model_dump(mode="json")
        logged_request.update(customer_id=online.customer_id, session_id=online.session_id)
        logged_response = response.model_dump(mode="json")
        logged_response["customer_id"] = online.customer_id
        predictions.append("orders/risk", scorer.version, current.snapshot_id, logged_request, logged_response)
        return response

    @app.post(
        "/v1/demand/predict",
        response_model=DemandResponse,
        tags=["demand"],
        dependencies=guard,
        responses=errors(
            {
                400: NOT_JSON,
                404: "the product is not in the forecast (no sales history or catalog price up to the cut-off)",
                422: DEMAND_422,
                503: f"{NO_SNAPSHOT}, or the snapshot has no demand forecast champion",
            }
        ),
    )
    def demand(request: DemandRequest) -> DemandResponse:
        """p10 / p50 / p90 units of a product on days after the cut-off, from the forecast champion; with a
        price or promotion, what the model expects then (default: the batch forecast's assumptions)."""
        current = snapshot()
        predictor = current.demand
        if predictor is None:
            raise HTTPException(
                status_code=503,
                detail="this snapshot has no demand forecast champion (demand was not forecast in the last run)",
            )
        try:
            days = predictor.predict(request.product_id, request.days, request.price, request.promotion_pct)
        except UnknownProduct:
            raise HTTPException(
                status_code=404,
                detail=f"product {request.product_id!r} is not in the forecast: "
                "it has no sales history or catalog price up to the cut-off",
            ) from None
        except DayOutsideHorizon as exc:
            raise HTTPException(
                status_code=422,
                detail=(
                    f"days: {exc.args[0]} is outside the forecast horizon: ask for days from "
                    f"{predictor.as_of + dt.timedelta(days=1)} to {predictor.last_day}"
                ),
            ) from None
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        response = DemandResponse(
            product_id=request.product_id,
            days=[DayDemand(**vars(d)) for d in days],
            what_if=request.price is not None or request.promotion_pct is not None,
            model_version=predictor.version,
            candidate=predictor.candidate,
            as_of=predictor.as_of.isoformat(),
            snapshot_id=current.snapshot_id,
        )
        predictions.append(
            "demand/predict",
            predictor.version,
            current.snapshot_id,
            request.model_dump(mode="json"),
            response.model_dump(mode="json"),
        )
        return response

    openapi_cache: dict[str | None, dict] = {}

    def openapi() -> dict:
        """The document of the running server: the static part once, and per served snapshot what it
        accepts (so a schema-valid demand request is one the server can answer)."""
        current = store.current
        key = current.snapshot_id if current is not None else None
        if key not in openapi_cache:
            document = copy.deepcopy(FastAPI.openapi(app))
            if current is not None:
                _describe_snapshot(document, current, example_customer=pseudonymiser is None)
            openapi_cache.clear()
            openapi_cache[key] = document
        return openapi_cache[key]

    app.openapi = openapi  # type: ignore[method-assign]
    if max_body_bytes:
        app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


DEMAND_422 = (
    "the body is not the JSON of a DemandRequest (a field out of range, malformed JSON), a day outside "
    "the forecast horizon (after the snapshot's as_of, up to as_of + horizon: the `days` enum of this "
    "document lists them), or a promotion without a price on a day whose planned promotion is 100%"
)


def _describe_snapshot(document: dict, current: Snapshot, example_customer: bool = True) -> None:
    """What the served snapshot accepts, in the document: a customer id with scores as the example of
    the customer paths, and the forecast's days as the enum of DemandRequest.days (with the 422's
    description and an example request). Pseudonymised snapshots give no customer example: they hold
    no id a caller could send."""
    customer = min(current.scores, default=None) if example_customer else None
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter["name"] == "customer_id" and customer is not None:
                    parameter["example"] = customer
    predictor = current.demand
    if predictor is None or not predictor.days:
        return
    days = [day.isoformat() for day in predictor.days]
    item = document["components"]["schemas"]["DemandRequest"]["properties"]["days"]["items"]
    item["enum"] = days
    item["description"] = f"a day of the served snapshot's forecast horizon: {days[0]} to {days[-1]}"
    operation = document["paths"]["/v1/demand/predict"]["post"]
    operation["responses"]["422"]["description"] = f"{DEMAND_422}; now: {days[0]} to {days[-1]}"
    if predictor.example_product is not None:
        operation["requestBody"]["content"]["application/json"]["example"] = {
            "product_id": predictor.example_product,
            "days": days[:2],
        }
