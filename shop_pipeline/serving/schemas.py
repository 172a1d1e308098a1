"""Request and response bodies of the online API (pydantic: validated, and documented at /docs)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class RecommendedProduct(BaseModel):
    rank: int = Field(description="1 = show first")
    product_id: str
    score: float = Field(description="the model's score (popular list: distinct buyers in the window)")
    reason: str = Field(description="similar_items | popular_in_category | popular")


class RecommendationsResponse(BaseModel):
    customer_id: str
    source: Literal["personalised", "fallback"]
    reason: str | None = Field(None, description="why the fallback list was served (None for a personalised list)")
    items: list[RecommendedProduct]
    model_version: str | None
    as_of: str | None = Field(None, description="the last day of data the lists were computed from")
    snapshot_id: str


class CustomerScores(BaseModel):
    customer_id: str
    p_purchase: float = Field(description="probability of a purchase in the propensity horizon")
    churn_risk: float = Field(description="1 - p_purchase")
    expected_orders: float
    expected_spend: float
    segment: str
    model_version: str
    as_of: str
    snapshot_id: str


class ChampionModel(BaseModel):
    model_name: str
    version: str
    trained_at: str | None
    promoted_at: str | None
    as_of: str | None
    train_start: str | None
    train_end: str | None
    validated: bool = Field(description="held-out evaluations are recorded for this version")


class ModelsResponse(BaseModel):
    snapshot_id: str
    published_at: str | None
    as_of: str | None
    models: list[ChampionModel]


class Health(BaseModel):
    status: str
    snapshot_id: str | None = None
    detail: str | None = None


class Problem(BaseModel):
    detail: str


class OrderItem(BaseModel):
    product_id: str = Field(min_length=1, max_length=200)
    category: str | None = Field(None, max_length=200, description="the product's category (as in the events)")
    price: float = Field(ge=0, le=1_000_000, allow_inf_nan=False, description="unit price paid")
    quantity: int = Field(ge=1, le=10_000)


class OrderRiskRequest(BaseModel):
    customer_id: str = Field(min_length=1, max_length=200)
    order_id: str = Field(min_length=1, max_length=200)
    order_time: datetime = Field(description="ISO-8601; without an offset it is UTC")
    session_id: str | None = Field(None, max_length=200)
    session_started_at: datetime | None = Field(None, description="the session's first event")
    session_views: int = Field(0, ge=0, le=1_000_000, description="views of the session before the order")
    session_carts: int = Field(0, ge=0, le=1_000_000, description="cart events of the session before the order")
    first_cart_at: datetime | None = Field(None, description="the first of those cart events")
    items: list[OrderItem] = Field(min_length=1, max_length=500)


class OrderRiskResponse(BaseModel):
    order_id: str
    customer_id: str
    risk_score: float = Field(description="higher is riskier (the champion's score)")
    flagged: bool = Field(description="risk_score >= the champion's alert threshold")
    threshold: float
    top_features: list[str] = Field(description="what raised the score most: feature=value (score change)")
    known_customer: bool = Field(description="the customer has history up to the last run")
    model_version: str
    snapshot_id: str


class DemandRequest(BaseModel):
    product_id: str = Field(min_length=1, max_length=200)
    days: list[date] = Field(min_length=1, max_length=92, description="days after the cut-off, within the horizon")
    price: float | None = Field(None, gt=0, le=1_000_000, allow_inf_nan=False,
                                description="the price shown on those days (default: the batch forecast's assumption)")
    promotion_pct: float | None = Field(None, ge=0, lt=100, allow_inf_nan=False,
                                        description="discount in percent on those days (default: the planned one)")


class DayDemand(BaseModel):
    day: date
    p10: float
    p50: float
    p90: float
    shown_price: float = Field(description="the price the forecast assumed")
    promotion_pct: float


class DemandResponse(BaseModel):
    product_id: str
    days: list[DayDemand]
    what_if: bool = Field(description="a price or promotion other than the batch forecast's assumptions")
    model_version: str
    candidate: str
    as_of: str
    snapshot_id: str
