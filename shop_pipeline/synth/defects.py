"""Planting defects: which days get how many, and how one day's rows are altered.

Every planted line has exactly one defect and is made from a clean line. Field defects
change one value of a row; line defects (malformed_line, invalid_utf8) are recorded here
and applied to the text by writers.py; duplicates are extra rows placed a few lines after
their source (or, for some duplicate_event copies, in the next day's file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from shop_pipeline.synth.config import GeneratorConfig
from shop_pipeline.synth.render import Columns, format_ids, format_times, to_bytes, widen

FIELD_DEFECTS = (
    "missing_user_id",
    "missing_product_id",
    "negative_price",
    "absurd_price",
    "unparseable_price",
    "unknown_event_type",
    "future_event_time",
    "ancient_event_time",
    "unparseable_event_time",
    "mixed_utc_offset",
)
TEXT_LINE_DEFECTS = ("malformed_line", "invalid_utf8")
UNKNOWN_EVENT_TYPES = np.array(("wishlist", "clickk", "add_to_wishlist", "page_view"), dtype="S")
UNPARSEABLE_PRICES = np.array(("abc", "n/a", "free"), dtype="S")
UNPARSEABLE_TIMES = np.array(("not-a-date", "yesterday", "2025-13-45T25:61:00Z"), dtype="S")
FUTURE_YEARS = ("2088", "2092", "2096", "2099")  # 2099 is not a leap year: used only off Feb 29
ANCIENT_YEARS = ("1972", "1980", "1996", "2000", "2001")
OFFSET_MINUTES = (60, 120, 180, 330, 540, -180, -300, -480)
MALFORMED_VARIANTS = 3  # csv: too few fields, too many fields, unterminated quote


def plan_line_defects(config: GeneratorConfig, targets: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per defect, how many lines each day gets: max(rate x events, 1) over the run."""
    p = targets / targets.sum()
    plan = {}
    for name, rate in config.line_defect_rates().items():
        total = max(round(rate * config.events), 1)
        plan[name] = rng.multinomial(total, p)
    return plan


def pick_file_defect_days(config: GeneratorConfig, rng: np.random.Generator) -> tuple[int | None, int | None]:
    """Days of the replayed file and of the schema-drift file: never the first or the last day."""
    if not config.defects_on or config.days < 3:
        return None, None
    inner = np.arange(1, config.days - 1)
    if len(inner) == 1:
        return int(inner[0]), int(inner[0])
    replay, drift = rng.choice(inner, size=2, replace=False)
    return int(replay), int(drift)


@dataclass
class PlantedFile:
    cols: Columns  # final rows, in file order
    line_edits: dict[int, tuple[str, int]] = field(default_factory=dict)  # row -> (defect, variant)
    truth: list[tuple[int, str, str]] = field(default_factory=list)  # (1-based line, event_id, defect)
    carry: Columns | None = None  # duplicate_event copies for the next day's file


def _with_year(times: np.ndarray, years: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    out = []
    for text in times.tolist():
        year = str(rng.choice(years))
        if text[5:10] == b"02-29" and int(year) % 4:
            year = "2096" if int(year) > 2050 else "2000"
        out.append(year.encode() + text[4:])
    return np.array(out, dtype="S")


def _with_offset(time_ms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    minutes = rng.choice(np.array(OFFSET_MINUTES), size=len(time_ms))
    local = format_times(time_ms + minutes * 60_000)
    sign = np.where(minutes < 0, "-", "+")
    hh = np.strings.zfill((np.abs(minutes) // 60).astype("U"), 2)
    mm = np.strings.zfill((np.abs(minutes) % 60).astype("U"), 2)
    suffix = np.strings.add(np.strings.add(np.strings.add(sign, hh), ":"), mm)
    return to_bytes(np.strings.add(np.strings.slice(local, 0, 23), suffix))


def _plant_field_defect(
    name: str,
    cols: Columns,
    r: np.ndarray,
    time_ms: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Spoil field `name` of rows `r` in place (the rng draws as many values as rows, in FIELD_DEFECTS order)."""
    if name == "missing_user_id":
        cols["user_id"][r] = b""
    elif name == "missing_product_id":
        cols["product_id"][r] = b""
    elif name == "negative_price":
        cols["price"][r] = np.strings.add(b"-", cols["price"][r])
    elif name == "absurd_price":
        cents = rng.integers(100_000_001, 10_000_000_000, size=len(r))
        cols["price"][r] = [f"{c // 100}.{c % 100:02d}".encode() for c in cents.tolist()]
    elif name == "unparseable_price":
        cols["price"][r] = rng.choice(UNPARSEABLE_PRICES, size=len(r))
    elif name == "unknown_event_type":
        cols["event_type"][r] = rng.choice(UNKNOWN_EVENT_TYPES, size=len(r))
    elif name == "future_event_time":
        cols["event_time"][r] = _with_year(cols["event_time"][r], FUTURE_YEARS, rng)
    elif name == "ancient_event_time":
        cols["event_time"][r] = _with_year(cols["event_time"][r], ANCIENT_YEARS, rng)
    elif name == "unparseable_event_time":
        cols["event_time"][r] = rng.choice(UNPARSEABLE_TIMES, size=len(r))
    elif name == "mixed_utc_offset":
        cols["event_time"][r] = _with_offset(time_ms[r], rng)


def plant_day(
    cols: Columns,
    time_ms: np.ndarray,
    counts: dict[str, int],
    rng: np.random.Generator,
    carry_in: Columns | None,
    next_file_exists: bool,
    new_event_numbers: Callable[[int], np.ndarray],
    next_file_share: float,
) -> PlantedFile:
    """Plant this day's defects into its rows (sorted by time) and order the file."""
    n = len(time_ms)
    counts = {k: int(v) for k, v in counts.items() if v > 0}
    wanted = sum(counts.values())
    if wanted > n // 2:  # a tiny day cannot take them all: keep the proportions
        scale = (n // 2) / max(wanted, 1)
        counts = {k: int(v * scale) for k, v in counts.items()}
        wanted = sum(counts.values())
    chosen = rng.choice(n, size=wanted, replace=False) if wanted else np.zeros(0, dtype=np.int64)
    rows: dict[str, np.ndarray] = {}
    at = 0
    for name in sorted(counts):
        rows[name] = np.sort(chosen[at : at + counts[name]])
        at += counts[name]

    cols = widen(cols) if wanted else dict(cols)
    for name in FIELD_DEFECTS:
        r = rows.get(name)
        if r is not None and len(r):
            _plant_field_defect(name, cols, r, time_ms, rng)

    # duplicates: extra rows, ordered by a sort key (base row i has key i)
    pool_src: list[np.ndarray] = [np.arange(n)]
    pool_key: list[np.ndarray] = [np.arange(n, dtype=np.float64)]
    pool_defect: list[np.ndarray] = [np.full(n, "", dtype=object)]
    new_ids: list[np.ndarray] = [np.full(n, "", dtype=object)]
    carry = None
    dup = rows.get("duplicate_event", np.zeros(0, dtype=np.int64))
    if len(dup):
        to_next = (rng.random(len(dup)) < next_file_share) & next_file_exists
        if to_next.any():
            carry = {name: values[dup[to_next]] for name, values in cols.items()}
        same = dup[~to_next]
        pool_src.append(same)
        pool_key.append(same + rng.integers(1, 6, size=len(same)) + 0.5)
        pool_defect.append(np.full(len(same), "duplicate_event", dtype=object))
        new_ids.append(np.full(len(same), "", dtype=object))
    content = rows.get("duplicate_content", np.zeros(0, dtype=np.int64))
    if len(content):
        pool_src.append(content)
        pool_key.append(content + rng.integers(1, 6, size=len(content)) + 0.5)
        pool_defect.append(np.full(len(content), "duplicate_content", dtype=object))
        new_ids.append(format_ids("e", new_event_numbers(len(content)), 12).astype(object))  # unicode
    if carry_in is not None and len(carry_in["event_id"]):
        m = len(carry_in["event_id"])
        cols = {name: np.concatenate([values, carry_in[name]]) for name, values in cols.items()}
        pool_src.append(np.arange(n, n + m))
        pool_key.append(rng.integers(0, n + 1, size=m) - 0.5)
        pool_defect.append(np.full(m, "duplicate_event", dtype=object))
        new_ids.append(np.full(m, "", dtype=object))
    src = np.concatenate(pool_src)
    key = np.concatenate(pool_key)
    order = np.lexsort((np.arange(len(key)), key))
    final = {name: values[src[order]] for name, values in cols.items()}
    del cols
    defect = np.concatenate(pool_defect)[order]
    new_id = np.concatenate(new_ids)[order]
    replaced = np.flatnonzero(new_id != "")
    if len(replaced):
        final["event_id"][replaced] = to_bytes(new_id[replaced].astype("U"))
    position = np.empty(len(order), dtype=np.int64)  # pool item -> 0-based row in the file
    position[order] = np.arange(len(order))

    planted = PlantedFile(cols=final, carry=carry)
    for name in FIELD_DEFECTS + TEXT_LINE_DEFECTS:
        for r in rows.get(name, ()):
            line = int(position[r])
            planted.truth.append((line + 1, final["event_id"][line].decode(), name))
            if name in TEXT_LINE_DEFECTS:
                variant = int(rng.integers(0, MALFORMED_VARIANTS)) if name == "malformed_line" else 0
                planted.line_edits[line] = (name, variant)
    for line in np.flatnonzero(defect != ""):
        planted.truth.append((int(line) + 1, final["event_id"][line].decode(), str(defect[line])))
    planted.truth.sort()
    return planted
