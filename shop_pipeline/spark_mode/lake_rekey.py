"""Re-keying the lake's pseudonyms on Spark: the lake part of `rotate-pseudonym-key` (no Dagster).

`rekey_lake(spark, lake, mapping)` maps every old pseudonym of `mapping` (old -> new, built by the
rotation from the landed ids: warehouse/rekey.py) to its new one in every lake table: the customer
and session columns (`warehouse.rekey.ID_COLUMNS`) by a broadcast join with the mapping as a
DataFrame (never ids in SQL text), and pseudonyms inside other text and JSON values (a quarantined
row's fields) by the warehouse's own `replace_pseudonyms`, applied only to values holding a
32-hex-digit token. Only the months holding a changed value are rewritten, through the lake's
write-audit-publish (engine/lake.py), audited by their row counts (a re-keying changes values, never
rows); an unpartitioned table is one unit. Once a table is re-keyed its values are new pseudonyms,
which the mapping does not hold: a second run (or the re-run after a kill, which finds some months
done and others not) rewrites only what still holds an old pseudonym, and nothing when none is left.
"""

# no `from __future__ import annotations`: pandas_udf reads the UDF's type hints as types
from shop_pipeline.spark_mode.lake_erase import LakeErasure, lake_has_data, read_table, rewrite_changed
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.rekey import ID_COLUMNS, PSEUDONYM_INSIDE, replace_pseudonyms


def _rekey_text(mapping: dict[str, str]):
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")
    def rekeyed(values: pd.Series) -> pd.Series:
        return values.map(lambda text: replace_pseudonyms(text, mapping), na_action="ignore")

    return rekeyed


def rekey_lake(spark, lake: str, mapping: dict[str, str], tables: list[str] | None = None) -> LakeErasure:
    """Every old pseudonym of `mapping` replaced by its new one on the lake (module docstring); the
    values changed per table (as `rows`) and the units rewritten."""
    from pyspark.sql import functions as F

    done = LakeErasure()
    if not mapping:
        return done
    pairs = spark.createDataFrame(sorted(mapping.items()), "_rekey_old STRING, _rekey_new STRING")
    rekeyed_text = _rekey_text(mapping)
    for table in sorted(tables if tables is not None else ddl.tables()):
        if not lake_has_data(lake, table):
            continue
        types = {c.name: c.type for c in ddl.columns(table)}
        id_columns = [c for c in ID_COLUMNS if c in types]
        text_columns = [c for c, kind in types.items() if c not in ID_COLUMNS and kind in ("VARCHAR", "JSON")]
        if not id_columns and not text_columns:
            continue
        frame = read_table(spark, lake, table)
        flags = []
        for index, column in enumerate(id_columns):
            old, new = f"_rekey_old_{index}", f"_rekey_new_{index}"
            found = pairs.withColumnRenamed("_rekey_old", old).withColumnRenamed("_rekey_new", new)
            frame = frame.join(F.broadcast(found), frame[column] == F.col(old), "left")
            flags.append(f"_rekey_changed_{len(flags)}")
            frame = frame.withColumn(flags[-1], F.col(new).isNotNull())
            frame = frame.withColumn(column, F.coalesce(F.col(new), F.col(column))).drop(old, new)
        for column in text_columns:
            holds = F.coalesce(F.col(column).rlike(PSEUDONYM_INSIDE), F.lit(False))
            frame = frame.withColumn("_rekey_text", F.when(holds, rekeyed_text(F.col(column))).otherwise(F.col(column)))
            flags.append(f"_rekey_changed_{len(flags)}")
            frame = frame.withColumn(flags[-1], ~F.col("_rekey_text").eqNullSafe(F.col(column)))
            frame = frame.withColumn(column, F.col("_rekey_text")).drop("_rekey_text")
        changed = F.lit(False)
        for flag in flags:
            changed = changed | F.col(flag)
        marked = frame.withColumn("_changed", changed).drop(*flags)
        values, units = rewrite_changed(spark, lake, table, marked)
        if values:
            done.rows[table] = values
            done.partitions[table] = units
    return done
