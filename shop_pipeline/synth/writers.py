"""Writing files: event files in csv / jsonl / parquet, and the small csv side files.

Every file is written to a '.tmp' sibling and renamed into place, so a watcher of the
landing folder never sees half a file (the landing sensor ignores '*.tmp').
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shop_pipeline.synth.render import Columns

INVALID_BYTES = "\udcff\udcfe"  # encodes (surrogateescape) to the raw bytes b"\xff\xfe"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def csv_lines(cols: Columns) -> list[str]:
    names = list(cols)
    line = cols[names[0]]
    for name in names[1:]:
        line = np.strings.add(np.strings.add(line, ","), cols[name])
    return line.tolist()


def jsonl_lines(cols: Columns) -> list[str]:
    line = None
    for i, (name, values) in enumerate(cols.items()):
        quoted = np.strings.add(np.strings.add('"', values), '"')
        value = np.where(values == "", "null", quoted)
        part = np.strings.add(("{" if i == 0 else ",") + json.dumps(name) + ":", value)
        line = part if line is None else np.strings.add(line, part)
    assert line is not None
    return np.strings.add(line, "}").tolist()


def _break_csv(line: str, defect: str, variant: int, brand_field: int) -> str:
    fields = line.split(",")
    if defect == "invalid_utf8":
        fields[brand_field] += INVALID_BYTES
        return ",".join(fields)
    if variant == 0:  # too few fields
        return ",".join(fields[:-2])
    if variant == 1:  # too many fields
        return ",".join(fields + ["extra"])
    fields[brand_field] = '"' + fields[brand_field]  # an unterminated quoted field
    return ",".join(fields)


def _break_jsonl(line: str, defect: str, brand: str) -> str:
    if defect == "invalid_utf8":
        old = '"brand":' + json.dumps(brand)
        return line.replace(old, old[:-1] + INVALID_BYTES + '"', 1)
    return line[: max(1, len(line) // 2)]  # truncated JSON


def write_events(path: Path, fmt: str, cols: Columns, line_edits: dict[int, tuple[str, int]] | None = None) -> int:
    """Write one event file; returns its number of data lines (rows)."""
    line_edits = line_edits or {}
    n = len(next(iter(cols.values())))
    if fmt == "parquet":
        if line_edits:
            raise ValueError("line defects cannot be written to Parquet")
        arrays = []
        for values in cols.values():
            arr = pa.array(values, type=pa.string())
            arrays.append(pa.compute.if_else(pa.compute.equal(arr, ""), pa.scalar(None, pa.string()), arr))
        table = pa.Table.from_arrays(arrays, names=list(cols))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        atomic_write_bytes(path, sink.getvalue().to_pybytes())
        return n
    if fmt == "csv":
        lines = csv_lines(cols) if n else []
        brand_field = list(cols).index("brand")
        for row, (defect, variant) in line_edits.items():
            lines[row] = _break_csv(lines[row], defect, variant, brand_field)
        text = ",".join(cols) + "\n" + ("\n".join(lines) + "\n" if lines else "")
    elif fmt == "jsonl":
        lines = jsonl_lines(cols) if n else []
        for row, (defect, _variant) in line_edits.items():
            lines[row] = _break_jsonl(lines[row], defect, str(cols["brand"][row]))
        text = "\n".join(lines) + "\n" if lines else ""
    else:
        raise ValueError(f"unknown format {fmt!r}")
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))
    return n


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))
    return count
