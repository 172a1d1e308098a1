"""Column contracts of the feature tables, shared by the SQL, the suites and the models.

Cut-off convention: `as_of` is the last day whose events may be used (inclusive); the
cut-off instant is as_of + 1 day at 00:00 UTC. Features use only events strictly before the
cut-off; labels use only events in [cut-off, cut-off + horizon days).
"""

# features.product_daily_sales: one row per product and day, complete grid (zeros on days
# without events) from the product's first day (or the first landed day) to as_of.
PRODUCT_DAILY_SALES = (
    "product_id", "day", "category", "brand",
    "units", "revenue", "views", "carts", "purchases", "orders", "conversion",
    "avg_paid_price",          # revenue / units; NULL when nothing sold
    "shown_price",             # mean price on the day's events, else last known, else list price
    "list_price",              # catalog base_price
    "promo_discount_pct",      # active promotion's discount (0..1), 0 when none
    "is_promo",
    "ref_price_28d",           # mean shown_price over the 28 days before `day`
    "discount_vs_ref",         # 1 - shown_price / ref_price_28d (0 when no reference)
    "ad_spend",                # the product's category ad spend on `day`
    "day_of_week", "day_of_year", "month", "is_weekend",
    "units_lag_1", "units_lag_7", "units_lag_14",
    "units_rolling_mean_7", "units_rolling_mean_28",   # over the days before `day`
)

# features.customer_features: one row per customer seen before the cut-off.
CUSTOMER_FEATURES = (
    "customer_id", "as_of",
    "first_seen", "last_seen",           # timestamps of the first / last event (< cut-off)
    "tenure_days", "recency_days",       # recency: days from last purchase (else first_seen) to the cut-off
    "frequency", "monetary", "avg_order_value",   # distinct orders, spend, spend / orders
    "sessions", "views", "carts", "purchases",
    "view_to_cart_rate", "cart_to_purchase_rate",
    "category_diversity",                # distinct categories interacted with
    "days_since_last_view", "days_since_last_cart",   # NULL -> large sentinel documented in SQL
    "mean_interpurchase_days",           # NULL when fewer than two orders
    "orders_last_30d", "orders_last_90d", "spend_last_30d", "spend_last_90d",
)

# Labels over [cut-off, cut-off + horizon_days), built separately from features.
CUSTOMER_LABELS = ("customer_id", "as_of", "horizon_days", "purchased", "orders", "spend")
