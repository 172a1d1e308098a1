"""Definition-time table schemas shown in the UI (dagster/column_schema), read from the DDL file
each table is created from (shop_pipeline/sql/tables/, sql/ddl.py): names, DuckDB types,
nullability, the primary key, and each column's comment as its description."""

from dagster import TableColumn, TableColumnConstraints, TableConstraints, TableSchema

from shop_pipeline.sql import ddl


def column_schema(*tables: str) -> TableSchema:
    """The columns of `tables`; of several (an asset writing more than one table), each column
    named with its table: raw.ad_spend.date."""
    columns, constraints = [], []
    for table in tables:
        key = ddl.primary_key(table)
        prefix = f"{table}." if len(tables) > 1 else ""
        columns += [
            TableColumn(
                prefix + column.name,
                column.type,
                column.description,
                constraints=TableColumnConstraints(nullable=column.nullable, unique=key == (column.name,)),
            )
            for column in ddl.columns(table)
        ]
        if key:
            constraints.append(f"PRIMARY KEY ({', '.join(key)})" + (f" of {table}" if prefix else ""))
    return TableSchema(columns=columns, constraints=TableConstraints(other=constraints) if constraints else None)


def table_metadata(*tables: str) -> dict:
    """An asset's definition-time metadata for the warehouse table(s) it writes: name and column schema."""
    return {"dagster/table_name": ", ".join(tables), "dagster/column_schema": column_schema(*tables)}
