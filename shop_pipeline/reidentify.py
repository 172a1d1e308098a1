"""`shop-pipeline export-scores`: customer scores with the shop's real customer ids, for the one place
the shop must act on a real id (a churn-risk e-mail list; docs/privacy.md).

With a pseudonym key every table names customers by pseudonym. Ingestion also keeps, in
reidentify.customers, each customer's clear id sealed with AES-256-GCM under a key derived from
the pseudonym key (pseudonyms.py): the lookup opens only with that key, and goes with the customer
on `forget` and the retention purge. The export joins the scores with it, opens each sealed id,
and writes a CSV readable by its owner only, outside the shop home. Without a pseudonym key the
ids are the real ones already and the export writes them as they are.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from shop_pipeline.pseudonyms import pseudonymiser_from_env
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect, table_columns
from shop_pipeline.warehouse.erase import check_same_key

SCORE_COLUMNS = ("p_purchase", "churn_risk", "expected_orders", "expected_spend", "segment", "model_version", "as_of")


@dataclass(frozen=True)
class ExportReport:
    path: Path
    rows: int
    not_reidentified: int  # scored customers without a lookup entry (e.g. guest checkouts)

    def describe(self) -> str:
        return (
            f"{self.rows:,} customers with their real ids written to {self.path} (owner-only); "
            f"{self.not_reidentified:,} scored customer(s) without a real id left out (guest checkouts)"
        )


def export_scores(paths: ShopPaths, out: Path, min_churn_risk: float | None = None) -> ExportReport:
    out = Path(out).resolve()
    if out.is_relative_to(paths.home.resolve()):
        raise ValueError(f"{out} is inside the shop home: write the list of real ids outside it")
    pseudonymiser = pseudonymiser_from_env()
    with connect(paths.warehouse) as con:
        check_same_key(con)
        if not table_columns(con, "scoring.customer_scores"):
            raise FileNotFoundError("no customer scores yet: run the pipeline first")
        where = "WHERE s.churn_risk >= $min" if min_churn_risk is not None else ""
        params = {"min": min_churn_risk} if min_churn_risk is not None else {}
        columns = ", ".join(f"s.{c}" for c in SCORE_COLUMNS)
        if pseudonymiser is None:
            rows = con.execute(
                f"SELECT s.customer_id, NULL, {columns} FROM scoring.customer_scores AS s {where} ORDER BY 1", params
            ).fetchall()
        else:
            if not table_columns(con, "reidentify.customers"):
                raise FileNotFoundError("no re-identification lookup: the warehouse was built before it existed")
            rows = con.execute(
                f"""SELECT s.customer_id, r.sealed_id, {columns} FROM scoring.customer_scores AS s
                    LEFT JOIN reidentify.customers AS r USING (customer_id) {where} ORDER BY 1""",
                params,
            ).fetchall()
    records, missing = [], 0
    for stored, sealed, *scores in rows:
        if pseudonymiser is not None:
            if sealed is None:
                missing += 1
                continue
            stored = pseudonymiser.unseal(stored, sealed)
        records.append([stored, *scores])
    records.sort(key=lambda r: r[0])
    staged = out.with_name(f".{out.name}.exporting")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", *SCORE_COLUMNS])
        writer.writerows(records)
    os.replace(staged, out)
    return ExportReport(path=out, rows=len(records), not_reidentified=missing)
