"""The online API over the current serving snapshot (FastAPI; run by `shop-pipeline serve`).

Every answer comes from one snapshot object taken at the start of the request (see
serving/store.py). Bad input is a 4xx whose `detail` says what to change; an unexpected error
is a 500 with a request id and no traceback (the traceback goes to the server's log).
"""

from __future__ import annotations

import contextlib
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
from starlette.types import ASGIApp, Receive, Scope, Send

from shop_pipeline.ml.demand_forecast.online import DayOutsideHorizon, UnknownProduct
from shop_pipeline.ml.order_risk.order_history import OnlineOrder, OrderLine
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
ERRORS = {401: {"model": Problem}, 404: {"model": Problem}, 413: {"model": Problem}, 503: {"model": Problem}}


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
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(self.limit, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    response = JSONResponse({"detail": f"request body over {limit} bytes; send smaller batches"}, status_code=413)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict:
    return {"type": "http.disconnect"}


def create_app(serving_root: str | Path, token: str | None = None, watch_seconds: float = 1.0,
               max_body_bytes: int = MAX_BODY_BYTES, prediction_log: PredictionLog | None = None) -> FastAPI:
    """The API over the snapshots published under `serving_root` (<shop home>/serving).

    With `token`, every /v1 request needs `Authorization: Bearer <token>`.
    """
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
    bearer = HTTPBearer(auto_error=False)

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    def snapshot() -> Snapshot:
        current = store.current
        if current is None:
            raise HTTPException(status_code=503, detail="no serving snapshot is loaded yet: run the pipeline "
                                "(shop-pipeline run) so that the scoring stage publishes one")
        return current

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.exception("request %s failed", request_id, exc_info=exc)
        return JSONResponse({"detail": f"internal error (request id {request_id}; see the server log)"},
                            status_code=500)

    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        """The process is up (it may not have a snapshot yet: see /readyz)."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}}, tags=["operations"])
    async def readyz():
        """Ready once a snapshot is loaded."""
        current = store.current
        if current is None:
            return JSONResponse(Health(status="not_ready", detail=store.last_error or "no snapshot published yet")
                                .model_dump(), status_code=503)
        return Health(status="ready", snapshot_id=current.snapshot_id, detail=store.last_error)

    @app.get("/v1/models", response_model=ModelsResponse, responses=ERRORS, tags=["models"],
             dependencies=[Depends(authorised)])
    async def models() -> ModelsResponse:
        """The champions the snapshot's scores came from."""
        current = snapshot()
        return ModelsResponse(snapshot_id=current.snapshot_id, published_at=current.manifest.get("published_at"),
                              as_of=current.as_of, models=[ChampionModel(**m) for m in current.models])

    @app.get("/v1/customers/{customer_id}/recommendations", response_model=RecommendationsResponse,
             responses=ERRORS, tags=["customers"], dependencies=[Depends(authorised)])
    async def recommendations(customer_id: str = CUSTOMER_ID,
                        k: int = Query(10, ge=1, le=MAX_K, description="how many products")) -> RecommendationsResponse:
        """The customer's published top-k list; an unknown or cold customer gets the popular list and the reason."""
        current = snapshot()
        items, version = current.recommendations(customer_id, k)
        if items:
            return RecommendationsResponse(
                customer_id=customer_id, source="personalised", items=[RecommendedProduct(**vars(i)) for i in items],
                model_version=version, as_of=current.as_of, snapshot_id=current.snapshot_id)
        reason = ("customer has no interaction before the cut-off (unknown or new): the most popular products"
                  if customer_id not in current.scores else
                  "customer has no published list (outside the recommendation window): the most popular products")
        return RecommendationsResponse(
            customer_id=customer_id, source="fallback", reason=reason,
            items=[RecommendedProduct(**vars(i)) for i in current.fallback[:k]],
            model_version=current.recommendation_version(), as_of=current.as_of, snapshot_id=current.snapshot_id)

    @app.get("/v1/customers/{customer_id}/scores", response_model=CustomerScores, responses=ERRORS,
             tags=["customers"], dependencies=[Depends(authorised)])
    async def scores(customer_id: str = CUSTOMER_ID) -> CustomerScores:
        """Purchase propensity, churn risk, expected orders and spend, and segment of a known customer."""
        current = snapshot()
        row = current.scores.get(customer_id)
        if row is None:
            raise HTTPException(status_code=404, detail=f"customer {customer_id!r} has no scores: no event of theirs "
                                "reached the last run's cut-off")
        p, churn, orders, spend, segment, version, as_of = row
        return CustomerScores(customer_id=customer_id, p_purchase=p, churn_risk=churn, expected_orders=orders,
                              expected_spend=spend, segment=segment, model_version=version,
                              as_of=as_of,
                              snapshot_id=current.snapshot_id)

    @app.post("/v1/orders/risk", response_model=OrderRiskResponse, responses={**ERRORS, 422: {"model": Problem}},
              tags=["orders"], dependencies=[Depends(authorised)])
    def order_risk(order: OrderRiskRequest) -> OrderRiskResponse:
        """Risk of a new order: its features from the customer's history up to the last run plus the order
        itself (the definitions of features.order_features), scored by the order-risk champion."""
        current = snapshot()
        scorer = current.order_risk
        if scorer is None:
            raise HTTPException(status_code=503, detail="this snapshot has no order-risk champion (order risk was "
                                "not scored in the last run)")
        online = OnlineOrder(
            customer_id=order.customer_id, order_id=order.order_id, order_time=_utc(order.order_time),
            session_id=order.session_id,
            session_started_at=_utc(order.session_started_at) if order.session_started_at else None,
            session_views=order.session_views, session_carts=order.session_carts,
            first_cart_at=_utc(order.first_cart_at) if order.first_cart_at else None,
            lines=tuple(OrderLine(i.product_id, i.category, float(i.price), int(i.quantity)) for i in order.items))
        if online.session_id is None and (order.session_views or order.session_carts or order.first_cart_at):
            raise HTTPException(status_code=422, detail="session_views, session_carts and first_cart_at need a session_id")
        answer = scorer.score(online)
        response = OrderRiskResponse(order_id=order.order_id, customer_id=order.customer_id,
                                     risk_score=answer.risk_score, flagged=answer.flagged, threshold=answer.threshold,
                                     top_features=answer.top_features, known_customer=answer.known_customer,
                                     model_version=scorer.version, snapshot_id=current.snapshot_id)
        predictions.append("orders/risk", scorer.version, current.snapshot_id, order.model_dump(mode="json"),
                           response.model_dump(mode="json"))
        return response

    @app.post("/v1/demand/predict", response_model=DemandResponse, responses={**ERRORS, 422: {"model": Problem}},
              tags=["demand"], dependencies=[Depends(authorised)])
    def demand(request: DemandRequest) -> DemandResponse:
        """p10 / p50 / p90 units of a product on days after the cut-off, from the forecast champion; with a
        price or promotion, what the model expects then (default: the batch forecast's assumptions)."""
        current = snapshot()
        predictor = current.demand
        if predictor is None:
            raise HTTPException(status_code=503, detail="this snapshot has no demand forecast champion (demand was "
                                "not forecast in the last run)")
        try:
            days = predictor.predict(request.product_id, request.days, request.price, request.promotion_pct)
        except UnknownProduct:
            raise HTTPException(status_code=404, detail=f"product {request.product_id!r} is not in the forecast: "
                                "it has no sales history or catalog price up to the cut-off") from None
        except DayOutsideHorizon as exc:
            raise HTTPException(status_code=422, detail=(
                f"days: {exc.args[0]} is outside the forecast horizon: ask for days from "
                f"{predictor.as_of + dt.timedelta(days=1)} to {predictor.last_day}")) from None
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        response = DemandResponse(
            product_id=request.product_id, days=[DayDemand(**vars(d)) for d in days],
            what_if=request.price is not None or request.promotion_pct is not None,
            model_version=predictor.version, candidate=predictor.candidate, as_of=predictor.as_of.isoformat(),
            snapshot_id=current.snapshot_id)
        predictions.append("demand/predict", predictor.version, current.snapshot_id, request.model_dump(mode="json"),
                           response.model_dump(mode="json"))
        return response

    if max_body_bytes:
        app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app
