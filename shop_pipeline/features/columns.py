"""Column contracts of the feature tables, shared by the SQL, the suites and the models.

The columns, their order, types and meaning are those of each table's DDL file,
shop_pipeline/sql/tables/features.<table>.sql (read by sql/ddl.py); nothing here repeats them.

Cut-off convention: `as_of` is the last day whose events may be used (inclusive); the
cut-off instant is as_of + 1 day at 00:00 UTC. Features use only events strictly before the
cut-off; labels use only events in [cut-off, cut-off + horizon days).
"""

import datetime as dt

from shop_pipeline.sql import ddl

PRODUCT_DAILY_SALES_TABLE = "features.product_daily_sales"
CUSTOMER_FEATURES_TABLE = "features.customer_features"
CUSTOMER_LABELS_TABLE = "features.customer_labels"

# features.product_daily_sales: one row per product and day, complete grid (zeros on days
# without events) from the product's first day (or the first landed day) to as_of.
PRODUCT_DAILY_SALES = ddl.column_names(PRODUCT_DAILY_SALES_TABLE)

# features.customer_features: one row per customer seen before the cut-off.
CUSTOMER_FEATURES = ddl.column_names(CUSTOMER_FEATURES_TABLE)

# Labels over [cut-off, cut-off + horizon_days), built separately from features.
CUSTOMER_LABELS = ddl.column_names(CUSTOMER_LABELS_TABLE)

# days_since_last_view / days_since_last_cart of a customer who never viewed / carted
NO_EVENT_DAYS = 9999.0

# Columns the tables may hold NULL in (every other column is NOT NULL in its DDL).
PRODUCT_DAILY_SALES_NULLABLE = ddl.nullable_columns(PRODUCT_DAILY_SALES_TABLE)
CUSTOMER_FEATURES_NULLABLE = ddl.nullable_columns(CUSTOMER_FEATURES_TABLE)


def cutoff_for(as_of: dt.date) -> dt.datetime:
    """The cut-off instant of `as_of`: the next day at 00:00, naive UTC."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
