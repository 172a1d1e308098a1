"""Any CSV, Parquet or JSON Lines file, described by a small YAML mapping.

    columns:              # canonical column: the file's column (names are case-sensitive)
      user_id: customer
      product_id: sku
      event_time: ts
      price: amount       # optional: event_type, price, quantity, order_id, session_id,
      quantity: qty       #           category, brand
    time_format: "%d/%m/%Y %H:%M"   # optional: a strptime format, a list of them (tried in
                                    # order), epoch_ms or epoch_s; default ISO-8601 text
    constants:            # optional: a fixed value for a canonical column the file has not
      event_type: purchase  #   got, e.g. a plain purchases or ratings log
      price: "0"
    event_type_values:    # optional: the file's event names -> view/cart/remove_from_cart/purchase
      addtocart: cart
    personal:             # optional: the file's personal columns (email, phone, name, address,
      email: pseudonymise #   IP ...) and what the import does with them: drop (never leaves the
      phone: drop         #   source file) or pseudonymise (only its HMAC under the pseudonym key,
      ip: drop            #   $SHOP_PIPELINE_PSEUDONYM_KEY_FILE, is landed), see docs/privacy.md

Required: user_id, product_id and event_time as columns, event_type and price as a column or
a constant. quantity defaults to '1'. A purchase without an order column gets one order per
line: order_id = its event_id. A time without an offset is UTC. Values that cannot be mapped
(unparseable time, empty required value, unknown event name) are passed through as their raw
text or NULL, so staging quarantines them with the reason. The file type comes from its
extension (.csv, .parquet, .jsonl / .ndjson); CSV is read with DuckDB's dialect detection,
every value as text; a CSV line that repeats the header in the middle of the file goes to
import_rejects ('repeated header line'). A mapping that names a column the file has not got,
an unknown key, or a missing required column is an error naming the file and the column.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import yaml

from shop_pipeline.contracts import EVENT_COLUMNS, EVENT_TYPES
from shop_pipeline.sources.adapter import (
    ISO_UTC,
    FormatAdapter,
    ImportFailed,
    quote_ident,
    raw_record_sql,
    repeated_header_sql,
)

NAME = "generic"
MAPPABLE = tuple(c for c in EVENT_COLUMNS if c != "event_id")
REQUIRED_COLUMNS = ("user_id", "product_id", "event_time")
REQUIRED_EITHER = ("event_type", "price")
KEYS = {"columns", "time_format", "constants", "event_type_values", "personal"}
PERSONAL_ACTIONS = ("drop", "pseudonymise")


def load_mapping(path: Path | str) -> dict:
    try:
        mapping = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ImportFailed(f"mapping {path}: cannot read it: {exc}") from exc
    if not isinstance(mapping, dict):
        raise ImportFailed(f"mapping {path}: expected a YAML mapping with a 'columns' section")
    return validate_mapping(mapping, str(path))


def validate_mapping(mapping: dict, where: str = "mapping") -> dict:
    unknown = sorted(set(mapping) - KEYS)
    if unknown:
        raise ImportFailed(f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    columns = mapping.get("columns") or {}
    constants = mapping.get("constants") or {}
    values = mapping.get("event_type_values") or {}
    for section, content in (("columns", columns), ("constants", constants), ("event_type_values", values)):
        if not isinstance(content, dict):
            raise ImportFailed(f"{where}: '{section}' must be a mapping")
    for section, content in (("columns", columns), ("constants", constants)):
        bad = sorted(k for k in content if k not in MAPPABLE)
        if bad:
            raise ImportFailed(f"{where}: {section}: {', '.join(bad)} not canonical columns ({', '.join(MAPPABLE)})")
    both = sorted(set(columns) & set(constants))
    if both:
        raise ImportFailed(f"{where}: {', '.join(both)} both a column and a constant")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    missing += [c for c in REQUIRED_EITHER if c not in columns and c not in constants]
    if missing:
        raise ImportFailed(f"{where}: no column or constant for {', '.join(missing)}")
    bad_targets = sorted(str(v) for v in values.values() if v not in EVENT_TYPES)
    if bad_targets:
        raise ImportFailed(f"{where}: event_type_values: {', '.join(bad_targets)} not one of {', '.join(EVENT_TYPES)}")
    time_format = mapping.get("time_format")
    if time_format is not None and not isinstance(time_format, (str, list)):
        raise ImportFailed(f"{where}: time_format must be a string or a list of strings")
    personal = _checked_personal(mapping.get("personal") or {}, columns, where)
    return {
        "personal": personal,
        "columns": {k: str(v) for k, v in columns.items()},
        "constants": {k: str(v) for k, v in constants.items()},
        "event_type_values": {str(k): str(v) for k, v in values.items()},
        "time_format": [time_format] if isinstance(time_format, str) else time_format,
    }


def _checked_personal(personal, columns: dict, where: str) -> dict[str, str]:
    """The `personal` section: file column -> drop | pseudonymise. A dropped column cannot feed a
    canonical column (its values would land); a pseudonymised one lands only as its HMAC."""
    if not isinstance(personal, dict):
        raise ImportFailed(f"{where}: 'personal' must be a mapping of the file's columns to drop or pseudonymise")
    bad = sorted(f"{k}: {v}" for k, v in personal.items() if v not in PERSONAL_ACTIONS)
    if bad:
        raise ImportFailed(
            f"{where}: personal: {', '.join(bad)}: the action must be one of {', '.join(PERSONAL_ACTIONS)}"
        )
    leaking = sorted(
        f"{canonical} <- {column}" for canonical, column in columns.items() if personal.get(column) == "drop"
    )
    if leaking:
        raise ImportFailed(f"{where}: columns: {', '.join(leaking)}: a column declared personal: drop cannot be mapped")
    return {str(k): str(v) for k, v in personal.items()}


def _source_sql(path: Path) -> tuple[str, str]:
    """(relation, line expression) for the file, by its extension."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "read_csv($path, header = true, all_varchar = true)", "row_number() OVER ()"
    if suffix == ".parquet":
        return "read_parquet($path, file_row_number = true)", "file_row_number + 1"
    if suffix in (".jsonl", ".ndjson"):
        return "read_json($path, format = 'newline_delimited')", "row_number() OVER ()"
    raise ImportFailed(f"{path}: unsupported file type {suffix or '(none)'}: use .csv, .parquet or .jsonl")


def _time_sql(raw: str, formats: list[str] | None) -> str:
    if not formats:
        return f"try_cast({raw} AS TIMESTAMPTZ)"
    parts = []
    for fmt in formats:
        if fmt in ("epoch_ms", "epoch_s"):
            scale = 1000 if fmt == "epoch_ms" else 1000000
            parts.append(
                f"CASE WHEN regexp_full_match({raw}, '[0-9]{{1,15}}') "
                f"THEN CAST(make_timestamp(CAST({raw} AS BIGINT) * {scale}) AS TIMESTAMPTZ) END"
            )
        else:
            literal = "'" + str(fmt).replace("'", "''") + "'"
            parts.append(f"CAST(try_strptime({raw}, {literal}) AS TIMESTAMPTZ)")
    return "coalesce(" + ", ".join(parts) + ")" if len(parts) > 1 else parts[0]


def convert(con: duckdb.DuckDBPyConnection, path: Path, stem: str, mapping: dict) -> dict[str, int]:
    relation, line_sql = _source_sql(path)
    try:
        found = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}", {"path": str(path)}).fetchall()]
    except duckdb.Error as exc:
        raise ImportFailed(f"{path}: cannot read it: {_reader_error(path, exc)}") from exc
    columns, constants = mapping["columns"], mapping["constants"]
    personal = mapping.get("personal", {})
    missing = [f"{k} -> {v!r}" for k, v in columns.items() if v not in found]
    missing += [f"personal: {c!r}" for c in personal if c not in found]
    if missing:
        raise ImportFailed(
            f"{path}: the mapping names columns the file has not got: {', '.join(missing)} (found: {', '.join(found)})"
        )

    def value(canonical: str) -> str:
        if canonical in columns:
            text = f"nullif(trim(CAST({quote_ident(columns[canonical])} AS VARCHAR)), '')"
            # the HMAC is computed in the import's own connection (pseudonyms.py); the value never lands
            return f"pseudonym({text})" if personal.get(columns[canonical]) == "pseudonymise" else text
        if canonical in constants:
            return "'" + constants[canonical].replace("'", "''") + "'"
        return "CAST(NULL AS VARCHAR)"

    event_type = value("event_type")
    values = mapping["event_type_values"]
    if values:
        cases = " ".join(f"WHEN '{k.replace(chr(39), chr(39) * 2)}' THEN '{v}'" for k, v in values.items())
        event_type = f"CASE {event_type} {cases} ELSE {event_type} END"
    try:
        _convert(con, path, stem, relation, line_sql, found, mapping, event_type, value)
    except duckdb.Error as exc:
        if path.suffix.lower() not in (".jsonl", ".ndjson"):
            raise  # the importer words it (DuckDB names the CSV line)
        raise ImportFailed(f"{path}: not a well-formed {NAME} file: {_reader_error(path, exc)}") from exc
    return {}


def _reader_error(path: Path, exc: duckdb.Error) -> str:
    """DuckDB's first error line; for JSON Lines the bad line found and numbered here instead:
    DuckDB's own line count in its message is one too high."""
    first = str(exc).splitlines()[0]
    if path.suffix.lower() in (".jsonl", ".ndjson") and "JSON" in first:
        bad = _first_bad_json_line(path)
        if bad is not None:
            return f"line {bad[0]}: {bad[1]}"
    return first


def _first_bad_json_line(path: Path) -> tuple[int, str] | None:
    """(1-based physical line, why) of the first line that is not a JSON object, or None."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue  # DuckDB skips blank lines
                try:
                    value = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    return number, "not valid UTF-8"
                except json.JSONDecodeError as exc:
                    return number, f"malformed JSON ({exc.msg} at character {exc.pos + 1})"
                if not isinstance(value, dict):
                    return number, "the JSON value is not an object"
    except OSError:
        return None
    return None


def _convert(
    con, path: Path, stem: str, relation: str, line_sql: str, found: list[str], mapping: dict, event_type: str, value
) -> None:
    is_csv = path.suffix.lower() == ".csv"  # only a text file can repeat its header line
    repeated = repeated_header_sql(found) if is_csv else "false"
    raw = raw_record_sql(found) if is_csv else "NULL"
    columns, constants = mapping["columns"], mapping["constants"]
    quantity = value("quantity") if "quantity" in columns or "quantity" in constants else "'1'"
    order = value("order_id") if "order_id" in columns or "order_id" in constants else "NULL"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE converted AS
        WITH src AS (
            SELECT {line_sql} AS line, * FROM {relation}
        ),
        mapped AS (
            SELECT line, {repeated} AS repeated_header, {raw} AS raw_record,
                   {value("event_time")} AS raw_time,
                   {event_type} AS event_type,
                   {value("user_id")} AS user_id, {value("session_id")} AS session_id,
                   {value("product_id")} AS product_id, {value("category")} AS category,
                   {value("brand")} AS brand, {value("price")} AS price, {quantity} AS quantity,
                   {order} AS order_id
            FROM src
        ),
        typed AS (
            SELECT *, {_time_sql("raw_time", mapping["time_format"])} AS ts FROM mapped
        )
        SELECT
            line,
            CAST(ts AT TIME ZONE 'UTC' AS DATE) AS day,
            CASE WHEN repeated_header THEN raw_record ELSE $prefix || line END AS event_id,
            CASE WHEN ts IS NULL THEN raw_time ELSE strftime(ts AT TIME ZONE 'UTC', {ISO_UTC}) END AS event_time,
            event_type, user_id, session_id, product_id, category, brand, price, quantity,
            CASE WHEN event_type = 'purchase' THEN coalesce(CAST(order_id AS VARCHAR), $prefix || line) END
                AS order_id,
            CASE WHEN repeated_header THEN 'repeated header line' END AS reject_reason
        FROM typed
        ORDER BY line
        """,
        {"path": str(path), "prefix": f"{NAME}:{stem}:", **({"header": found} if is_csv else {})},
    )


def checked_mapping(mapping: dict | Path | str) -> dict:
    """A mapping given as a dict (checked) or as a YAML file (loaded and checked)."""
    return validate_mapping(mapping) if isinstance(mapping, dict) else load_mapping(mapping)


ADAPTER = FormatAdapter(NAME, convert, load_mapping=checked_mapping)
