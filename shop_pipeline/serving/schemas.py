"""Request and response bodies of the online API (pydantic: validated, and documented at /docs)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


def _iso_text(value: object) -> object:
    """Times and days are ISO-8601 strings, as the document says (pydantic would take a number as a
    Unix time)."""
    if not isinstance(value, str | datetime | date):
        raise ValueError("should be an ISO-8601 string")
    return value


def _inside_the_calendar(value: datetime) -> datetime:
    """Not on the first or last day of datetime's calendar, where converting an offset to UTC could leave it
    (the document's pattern says the same)."""
    if value.date() in (date.min, date.max):
        raise ValueError("should be after 0001-01-01 and before 9999-12-31")
    return value


def _json_number(value: object) -> object:
    """A number, as the document says: not a boolean or a string of digits (which pydantic would take);
    an integer may be written 3.0 (JSON Schema's integer)."""
    if isinstance(value, bool | str):
        raise ValueError("should be a number")
    return value


Number = Annotated[float, BeforeValidator(_json_number)]
Count = Annotated[int, BeforeValidator(_json_number)]
INSIDE_THE_CALENDAR = "^(?!0001-01-01|9999-12-31)"
Time = Annotated[
    datetime,
    BeforeValidator(_iso_text),
    AfterValidator(_inside_the_calendar),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSIDE_THE_CALENDAR}),
]
Day = Annotated[date, BeforeValidator(_iso_text)]


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
    """The body of every 4xx (and of a 500): what was wrong and what to change."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "query.k: Input should be greater than or equal to 1"}]}
    )

    detail: str = Field(description="one message; a validation error names the field(s): `<field>: <problem>; ...`")


class OrderItem(BaseModel):
    product_id: str = Field(min_length=1, max_length=200)
    category: str | None = Field(None, max_length=200, description="the product's category (as in the events)")
    price: Number = Field(ge=0, le=1_000_000, allow_inf_nan=False, description="unit price paid")
    quantity: Count = Field(ge=1, le=10_000)


class OrderRiskRequest(BaseModel):
    # The session facts need a session: either a session_id, or no session start, views, carts or
    # first cart (else 422).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["session_id"], "properties": {"session_id": {"type": "string"}}},
                {
                    "properties": {
                        "session_started_at": {"type": "null"},
                        "session_views": {"const": 0},
                        "session_carts": {"const": 0},
                        "first_cart_at": {"type": "null"},
                    }
                },
            ]
        }
    )

    customer_id: str = Field(min_length=1, max_length=200)
    order_id: str = Field(min_length=1, max_length=200)
    order_time: Time = Field(description="ISO-8601; without an offset it is UTC")
    session_id: str | None = Field(None, max_length=200)
    session_started_at: Time | None = Field(None, description="the session's first event")
    session_views: Count = Field(0, ge=0, le=1_000_000, description="views of the session before the order")
    session_carts: Count = Field(0, ge=0, le=1_000_000, description="cart events of the session before the order")
    first_cart_at: Time | None = Field(None, description="the first of those cart events")
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
    days: list[Day] = Field(min_length=1, max_length=92, description="days after the cut-off, within the horizon")
    price: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False), BeforeValidator(_json_number)] | None = (
        Field(None, description="the price shown on those days (default: the batch forecast's assumption)")
    )
    promotion_pct: Annotated[float, Field(ge=0, lt=100, allow_inf_nan=False), BeforeValidator(_json_number)] | None = (
        Field(None, description="discount in percent on those days (default: the planned one)")
    )


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
