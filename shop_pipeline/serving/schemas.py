"""Request and response bodies of the online API (pydantic: validated, and documented at /docs)."""

from __future__ import annotations

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
