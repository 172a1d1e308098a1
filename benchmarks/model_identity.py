"""What the models wrote, in a form two runs can be compared by: "the same metric tables, version
hashes and score tables" before and after a refactoring.

Dump (read-only connection to the warehouse of a finished run, e.g. benchmarks/models.py's):
    python benchmarks/model_identity.py --workdir /tmp/ms-before --out /tmp/ms-before/dump
Compare two dumps (exit 1 when a table differs):
    python benchmarks/model_identity.py --compare /tmp/ms-before/dump /tmp/ms-after/dump

--workdir is a benchmarks/models.py work folder (its shop-<events>/warehouse/shop.duckdb) or a
shop home (<home>/warehouse/shop.duckdb). Each table goes to <out>/<table>.parquet with its
SHA-256 in <out>/checksums.json. What a run cannot reproduce is left out or normalised:
- a version is `<trained at, to the second>-<8 hex of sha256(parameters, window)>`: every
  version string (in any column, JSON included) is replaced by its hash part;
- times of a run (trained_at, promoted_at, reused_at, evaluated_at, binned_at, written_at) are
  left out, and so is artifact_path (it holds the version);
- training keys and the score tables' inputs keys hash the project's code (ml/, features/,
  sql/), so they change with any edit: training_key is left out, training_inputs keeps the
  input tables' fingerprints and the settings but not the code hash, and scoring.score_builds
  keeps the table and its row count. The fingerprint of staging.events is left out too: its rows
  hold lineage (the landed file's path, the ingestion time), so two runs of the same code on the
  same files in two folders differ there;
- an artifact's SHA-256 (ml.model_registry.sha256) differs between two runs of the same code:
  skops names the members of its zip by Python object ids and stamps them with the time. It is
  replaced by `artifact_content` (below): the same model, the same digest.
Rows are sorted by every column; the checksum is the SHA-256 of the CSV text with floats in
repr (exact) form.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

import duckdb
import pandas as pd

VERSION = re.compile(r"\d{8}T\d{6}-([0-9a-f]{8})")
OBJECT_ID = re.compile(r'("__id__": |")(\d{9,})(?!\d)')  # skops: object ids, also the members' names
KEYS = (
    "model_name",
    "version",
    "candidate",
    "metric",
    "feature",
    "bins",
    "table_name",
    "customer_id",
    "order_id",
    "product_id",
    "day",
    "rank",
)
RUN_TIMES = ("trained_at", "promoted_at", "reused_at", "evaluated_at", "binned_at", "written_at")
LEFT_OUT = {"ml.model_registry": ("artifact_path", "training_key", "sha256"), "scoring.score_builds": ("inputs_key",)}
LINEAGE_TABLES = ("staging.events",)  # fingerprints that hold file paths and ingestion times


def find_warehouse(workdir: Path) -> Path:
    direct = workdir / "warehouse" / "shop.duckdb"
    if direct.is_file():
        return direct
    found = sorted(workdir.glob("shop-*/warehouse/shop.duckdb"))
    if len(found) != 1:
        raise SystemExit(f"expected one shop-*/warehouse/shop.duckdb under {workdir}, found {len(found)}")
    return found[0]


def _normalise_value(value):
    if isinstance(value, str):
        return VERSION.sub(r"\1", value)
    return value


def _training_inputs(text):
    if text is None:
        return None
    inputs = json.loads(text)
    inputs.pop("code", None)
    for table in LINEAGE_TABLES:
        inputs.get("tables", {}).pop(table, None)
    return VERSION.sub(r"\1", json.dumps(inputs, sort_keys=True))


def artifact_content(path: Path) -> str:
    """SHA-256 of a skops file's content, whatever the object ids and times it was written with: the
    schema with every object id (its "__id__" values and the members' file names) replaced by the order
    in which it first appears, then the members' bytes in that order."""
    with zipfile.ZipFile(path) as archive:
        schema = archive.read("schema.json").decode()
        ids: dict[str, int] = {}
        schema = OBJECT_ID.sub(lambda m: f"{m.group(1)}{ids.setdefault(m.group(2), len(ids))}", schema)
        members = sorted(
            (name for name in archive.namelist() if name != "schema.json"),
            key=lambda name: ids.get(Path(name).stem, len(ids)),
        )
        digest = hashlib.sha256(schema.encode())
        for name in members:
            digest.update(archive.read(name))
    return digest.hexdigest()


def normalise(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in (*RUN_TIMES, *LEFT_OUT.get(table, ())) if c in frame.columns])
    if "training_inputs" in frame.columns:
        frame["training_inputs"] = frame["training_inputs"].map(_training_inputs)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(_normalise_value)
    frame = frame.reindex(columns=sorted(frame.columns))
    if len(frame):  # rows by their keys first, so that a differing value does not reorder the rows
        order = [c for c in KEYS if c in frame.columns] + [c for c in frame.columns if c not in KEYS]
        frame = frame.sort_values(order, kind="mergesort", na_position="first")
    return frame.reset_index(drop=True)


def checksum(frame: pd.DataFrame) -> str:
    text = frame.to_csv(index=False, float_format=None, lineterminator="\n")
    floats = frame.select_dtypes("float").columns
    if len(floats):  # to_csv may round: hash the floats' exact reprs as well
        text += "".join(repr(v) for v in frame[floats].to_numpy().ravel().tolist())
    return hashlib.sha256(text.encode()).hexdigest()


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    found = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE schema_name = 'scoring' OR (schema_name = 'ml' AND table_name IN "
        "('model_registry', 'model_evaluations', 'drift_references')) ORDER BY 1"
    ).fetchall()
    return [t for (t,) in found]


def dump(workdir: Path, out: Path) -> dict[str, dict]:
    warehouse = find_warehouse(workdir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in tables(con):
            frame = con.execute(f"SELECT * FROM {table}").df()
            for column in frame.columns:  # lists (drift bins) as JSON text, so they sort and hash
                if (
                    frame[column].dtype == object
                    and frame[column].map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any()
                ):
                    frame[column] = frame[column].map(lambda v: json.dumps([float(x) for x in v]))
            if table == "ml.model_registry":
                models = warehouse.parent.parent / "models"
                frame["artifact_content"] = [artifact_content(models / path) for path in frame["artifact_path"]]
            frame = normalise(table, frame)
            frame.to_parquet(out / f"{table}.parquet", index=False)
            summary[table] = {"rows": len(frame), "sha256": checksum(frame)}
    (out / "checksums.json").write_text(json.dumps({"warehouse": str(warehouse), "tables": summary}, indent=2))
    return summary


def _difference(table: str, before: pd.DataFrame, after: pd.DataFrame) -> str:
    if list(before.columns) != list(after.columns):
        return f"columns differ: {sorted(set(before.columns) ^ set(after.columns))}"
    if len(before) != len(after):
        return f"rows {len(before)} -> {len(after)}"
    parts = []
    for column in before.columns:
        a, b = before[column], after[column]
        if pd.api.types.is_float_dtype(a):
            diff = (a - b).abs()
            unequal = ~((a == b) | (a.isna() & b.isna()))
            if unequal.any():
                parts.append(f"{column}: {int(unequal.sum())} values differ (max |diff| {diff.max():.3g})")
        else:
            unequal = a.astype(str) != b.astype(str)
            if unequal.any():
                parts.append(f"{column}: {int(unequal.sum())} values differ")
    return "; ".join(parts) or "same values, different text"


def compare(before_dir: Path, after_dir: Path) -> bool:
    before = json.loads((before_dir / "checksums.json").read_text())["tables"]
    after = json.loads((after_dir / "checksums.json").read_text())["tables"]
    same = True
    print("| table | rows before | rows after | identical |\n|---|---|---|---|")
    for table in sorted(set(before) | set(after)):
        b, a = before.get(table), after.get(table)
        if b is None or a is None:
            same = False
            print(f"| {table} | {b and b['rows']} | {a and a['rows']} | only in one dump |")
            continue
        if b["sha256"] == a["sha256"]:
            print(f"| {table} | {b['rows']:,} | {a['rows']:,} | yes |")
            continue
        same = False
        why = _difference(
            table, pd.read_parquet(before_dir / f"{table}.parquet"), pd.read_parquet(after_dir / f"{table}.parquet")
        )
        print(f"| {table} | {b['rows']:,} | {a['rows']:,} | NO: {why} |")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        sys.exit(0 if compare(*args.compare) else 1)
    if not args.workdir or not args.out:
        parser.error("--workdir and --out (or --compare BEFORE AFTER)")
    for table, facts in dump(args.workdir, args.out).items():
        print(f"{table}: {facts['rows']:,} rows, sha256 {facts['sha256'][:16]}")


if __name__ == "__main__":
    main()
