"""Writing files: event files in csv / jsonl / parquet, and the small csv side files.

Every file is written to a '.tmp' sibling and renamed into place, so a watcher of the
landing folder never sees half a file (the landing sensor ignores '*.tmp').
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shop_pipeline.synth.render import Columns, to_bytes

INVALID_BYTES = "\udcff\udcfe"  # encodes (surrogateescape) to the raw bytes b"\xff\xfe"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _ascii(values: np.ndarray) -> np.ndarray:
    return to_bytes(values) if values.dtype.kind == "U" else values


def join_fixed(pieces: list[np.ndarray | bytes], n: int) -> bytes:
    """Concatenate per-row pieces (byte arrays or constants) into one buffer, fast.

    Each piece gets a fixed-width slot of its longest value, padded with NUL bytes that are
    stripped at the end (the text never contains NUL): one memory copy per piece.
    """
    arrays = [np.full(n, p, dtype=f"S{max(len(p), 1)}") if isinstance(p, bytes) else _ascii(p) for p in pieces]
    widths = [a.dtype.itemsize for a in arrays]
    matrix = np.zeros((n, sum(widths)), dtype=np.uint8)
    at = 0
    for a, w in zip(arrays, widths):
        matrix[:, at : at + w] = np.ascontiguousarray(a).view(np.uint8).reshape(n, w)
        at += w
    return matrix.tobytes().replace(b"\x00", b"")


def csv_body(cols: Columns) -> bytes:
    pieces: list[np.ndarray | bytes] = []
    for i, values in enumerate(cols.values()):
        if i:
            pieces.append(b",")
        pieces.append(values)
    pieces.append(b"\n")
    return join_fixed(pieces, len(next(iter(cols.values()))))


def jsonl_body(cols: Columns) -> bytes:
    pieces: list[np.ndarray | bytes] = []
    for i, (name, values) in enumerate(cols.items()):
        pieces.append((("{" if i == 0 else ",") + json.dumps(name) + ":").encode())
        values = _ascii(values)
        quoted = np.strings.add(np.strings.add(b'"', values), b'"')
        pieces.append(np.where(values == b"", b"null", quoted))
    pieces.append(b"}\n")
    return join_fixed(pieces, len(next(iter(cols.values()))))


def _break_csv(line: str, defect: str, variant: int, brand_field: int) -> str:
    fields = line.split(",")
    if defect == "invalid_utf8":
        fields[brand_field] += INVALID_BYTES
        return ",".join(fields)
    if variant == 0:  # too few fields
        return ",".join(fields[:-2])
    if variant == 1:  # too many fields
        return ",".join([*fields, "extra"])
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
            arr = pa.array(_ascii(values).tolist(), type=pa.binary()).cast(pa.string())
            arrays.append(pa.compute.if_else(pa.compute.equal(arr, ""), pa.scalar(None, pa.string()), arr))
        table = pa.Table.from_arrays(arrays, names=list(cols))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        atomic_write_bytes(path, sink.getvalue().to_pybytes())
        return n
    if fmt == "csv":
        header = (",".join(cols) + "\n").encode()
        body = csv_body(cols) if n else b""
        brand_field = list(cols).index("brand")
        if line_edits:
            lines = body.decode("ascii").split("\n")
            for row, (defect, variant) in line_edits.items():
                lines[row] = _break_csv(lines[row], defect, variant, brand_field)
            body = "\n".join(lines).encode("utf-8", "surrogateescape")
    elif fmt == "jsonl":
        header = b""
        body = jsonl_body(cols) if n else b""
        if line_edits:
            lines = body.decode("ascii").split("\n")
            for row, (defect, _variant) in line_edits.items():
                lines[row] = _break_jsonl(lines[row], defect, _ascii(cols["brand"][row : row + 1])[0].decode())
            body = "\n".join(lines).encode("utf-8", "surrogateescape")
    else:
        raise ValueError(f"unknown format {fmt!r}")
    atomic_write_bytes(path, header + body)
    return n


# Chargebacks reach the shop days after the order: 1 + an exponential number of days (mean
# CHARGEBACK_MEAN_DELAY_DAYS), at most CHARGEBACK_MAX_DELAY_DAYS.
CHARGEBACK_HEADER = ("order_id", "is_fraud", "reported_on")
CHARGEBACK_MEAN_DELAY_DAYS = 6.0
CHARGEBACK_MAX_DELAY_DAYS = 45


def write_chargebacks(
    path: Path, order_ids: Sequence[str], order_times_ms: np.ndarray, last_day: dt.date, rng: np.random.Generator
) -> int:
    """The chargeback labels file: one row per fraudulent order reported by `last_day`.

    Each order gets a report delay in days; reports that would arrive after the last
    generated day are not known yet and are left out (as they would be in a real shop).
    Rows are sorted by (reported_on, order_id). Returns the number of rows written.
    """
    delays = 1 + np.minimum(
        np.floor(rng.exponential(CHARGEBACK_MEAN_DELAY_DAYS, size=len(order_ids))), CHARGEBACK_MAX_DELAY_DAYS - 1
    ).astype(np.int64)
    order_days = np.asarray(order_times_ms, dtype=np.int64) // 86_400_000
    reported = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d + k)) for d, k in zip(order_days, delays)]
    rows = sorted((day.isoformat(), order) for order, day in zip(order_ids, reported) if day <= last_day)
    return write_csv(path, CHARGEBACK_HEADER, ((order, 1, day) for day, order in rows))


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
