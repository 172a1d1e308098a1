"""Column contracts of the feature tables, shared by the SQL, the suites and the models.

The columns, their order, types and meaning are those of each table's DDL file,
shop_pipeline/sql/tables/features.<table>.sql (read by sql/ddl.py); nothing here repeats them.

Cut-off convention: `as_of` is the last day whose events may be used (inclusive); the
cut-off instant is as_of + 1 day at 00:00 UTC. Features use only events strictly before the
cut-off; labels use only events in [cut-off, cut-off + horizon days).
"""

from shop_pipeline.sql import ddl

# features.product_daily_sales: one row per product and day, complete grid (zeros on days
# without events) from the product's first day (or the first landed day) to as_of.
PRODUCT_DAILY_SALES = ddl.column_names("features.product_daily_sales")

# features.customer_features: one row per customer seen before the cut-off.
CUSTOMER_FEATURES = ddl.column_names("features.customer_features")

# Labels over [cut-off, cut-off + horizon_days), built separately from features.
CUSTOMER_LABELS = ddl.column_names("features.customer_labels")
