"""Stage `scoring`, last step: the serving snapshot the online API answers from (serving/snapshot.py)."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from shop_pipeline.defs.common import DUCKDB_POOL
from shop_pipeline.defs.models_common import ML_TEAM
from shop_pipeline.resources import ShopHome, Warehouse
from shop_pipeline.serving.snapshot import publish_snapshot, serving_root


@asset(
    group_name="scoring",
    kinds={"duckdb", "parquet"},
    owners=ML_TEAM,
    pool=DUCKDB_POOL,
    deps=["customer_scores", "recommendations"],
    description=(
        "The serving snapshot: customer scores, recommendation lists, the fallback list for unknown customers and "
        "the champions, copied out of the warehouse into <shop home>/serving/snapshots/<id>/ and made current with "
        "one atomic rename, so `shop-pipeline serve` never opens the warehouse and swaps to it without a restart."
    ),
)
def serving_snapshot(context: AssetExecutionContext, warehouse: Warehouse, shop: ShopHome) -> MaterializeResult:
    with warehouse.connection() as con:
        published = publish_snapshot(con, serving_root(shop.paths.home))
    context.log.info(f"serving snapshot {published.snapshot_id} published: {published.rows}")
    return MaterializeResult(metadata={
        "snapshot_id": published.snapshot_id,
        "path": MetadataValue.path(str(published.path)),
        "as_of": str(published.as_of),
        **{f"{name}_rows": rows for name, rows in published.rows.items()},
    })
