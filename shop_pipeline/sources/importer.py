"""`shop-pipeline import`: convert a user's shop files into canonical landing files.

Each format has a small module (rees46, cdnow, online_retail, retailrocket, generic) whose
`ADAPTER` (sources/adapter.py; the registry: sources/formats.py) converts a file into the DuckDB
temp table `converted` with set-based SQL:

    line BIGINT   the 1-based data record of the source file (after its header, if any)
    day  DATE     the UTC day of the event, NULL when its time could not be parsed
    event_id, event_time, ..., order_id   VARCHAR, the canonical columns (contracts.py)
    reject_reason VARCHAR   NULL, or why the line cannot be mapped at all
    source_line VARCHAR     optional: where a rejected row is, as a person finds it (e.g.
                            `Year 2010-2011:5` for an Excel sheet and row); default `line`

The shared writer here turns that table into one Parquet file per UTC day under
`$SHOP_PIPELINE_HOME/landing/events/<format>_<stem>_YYYY-MM-DD.parquet`, every column
VARCHAR with the canonical names, rows in source order. Lineage: `event_id` is
`<format>:<stem>:<line>`, so the landing row points back at the source file and record, and
importing the same file again writes identical bytes (ingestion then adds nothing: it
recognises files by SHA-256).

Rows whose values cannot be mapped are not dropped: an unparseable time or an empty
required value is passed through as the raw text (or NULL) so that staging quarantines the
row with its reason. Rows without a parseable time go to the file of the source's first
day. Only lines that cannot be mapped at all (`reject_reason`: cannot be split into fields,
a repeated header line in the middle of the file, an Excel row of an overlapping sheet) are
written to `landing/import_rejects/<format>_<stem>.csv` (file, line, column, reason, raw) and
counted in the report: rows read = rows landed + rows rejected, per source file.

A wrong format or missing columns raise ImportFailed naming the file and the missing
columns; an Excel workbook is refused by every format but online_retail. Everything is
written to `*.part` names first (ignored by landing discovery) and renamed only after every
file of the import converted, so a failed import leaves nothing.
`stem` is the source file name without its extension, with every character other than
letters, digits and '_' replaced by '_' (so a date in the source name cannot be mistaken
for the landing day).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.adapter import ImportFailed, safe_stem
from shop_pipeline.sources.formats import ADAPTERS, adapter_for
from shop_pipeline.sql.session import prepare_session


@dataclass
class FileReport:
    source: Path
    rows: int
    written: list[Path]
    rejects: int = 0
    unchanged: list[Path] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)  # format-specific counts, e.g. cancellations


def _check_converted(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    names = [row[0] for row in con.execute("DESCRIBE converted").fetchall()]
    expected = ["line", "day", *EVENT_COLUMNS, "reject_reason"]
    if names == expected:
        con.execute("ALTER TABLE converted ADD COLUMN source_line VARCHAR")
    elif names != [*expected, "source_line"]:  # a programming error in an adapter, not a user error
        raise RuntimeError(f"adapter output for {path} has columns {names}, expected {expected}")


def _write_parts(
    con: duckdb.DuckDBPyConnection, fmt: str, path: Path, stem: str, landing: Path
) -> tuple[list[tuple[Path, Path]], int, int]:
    """Write the day files and the rejects file of one source as .part files."""
    total, days_known = con.execute(
        "SELECT count(*), count(day) FROM converted WHERE reject_reason IS NULL"
    ).fetchall()[0]
    if total and not days_known:
        raise ImportFailed(f"{path}: no row has a parseable time: is it really a {fmt} file?")
    first_day = con.execute("SELECT min(day) FROM converted").fetchall()[0][0]
    days = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT coalesce(day, $first) AS d FROM converted WHERE reject_reason IS NULL ORDER BY d",
            {"first": first_day},
        ).fetchall()
    ]
    columns = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in EVENT_COLUMNS)
    events = landing / "events"
    events.mkdir(parents=True, exist_ok=True)
    parts: list[tuple[Path, Path]] = []
    for day in days:
        final = events / f"{fmt}_{stem}_{day.isoformat()}.parquet"
        part = final.with_name(final.name + ".part")
        con.execute(
            f"COPY (SELECT {columns} FROM converted WHERE reject_reason IS NULL AND coalesce(day, $first) = $day "
            f"ORDER BY line) TO '{_sql_path(part)}' (FORMAT parquet)",
            {"first": first_day, "day": day},
        )
        parts.append((part, final))
    rejects = con.execute("SELECT count(*) FROM converted WHERE reject_reason IS NOT NULL").fetchall()[0][0]
    if rejects:
        folder = landing / "import_rejects"
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{fmt}_{stem}.csv"
        part = final.with_name(final.name + ".part")
        con.execute(
            f"""COPY (SELECT $file AS file, coalesce(source_line, CAST(line AS VARCHAR)) AS line, 'line' AS column,
                       reject_reason AS reason, event_id AS raw
                FROM converted WHERE reject_reason IS NOT NULL ORDER BY line)
                TO '{_sql_path(part)}' (FORMAT csv, HEADER true)""",
            {"file": str(path)},
        )
        parts.append((part, final))
    return parts, total, rejects


def _install_pseudonyms(con: duckdb.DuckDBPyConnection, mapping) -> None:
    """The pseudonym(x) macro of the configured key, when the mapping pseudonymises a column
    (sources/generic.py `personal`); without a key such a mapping is refused before any file is read."""
    personal = mapping.get("personal") if isinstance(mapping, dict) else None
    wanted = sorted(c for c, action in (personal or {}).items() if action == "pseudonymise")
    if not wanted:
        return
    from shop_pipeline.pseudonyms import PSEUDONYM_KEY_FILE_ENV, PrivacyKeyError, install_macros, pseudonymiser_from_env

    try:
        pseudonymiser = pseudonymiser_from_env()
    except PrivacyKeyError as exc:
        raise ImportFailed(str(exc)) from None
    if pseudonymiser is None:
        raise ImportFailed(
            f"the mapping declares {', '.join(wanted)} personal: pseudonymise, but no pseudonym key is set "
            f"({PSEUDONYM_KEY_FILE_ENV}, docs/privacy.md): nothing was imported"
        )
    install_macros(con, pseudonymiser)


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _first_lines(exc: Exception, count: int = 3) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines()[:count] if line.strip())


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def import_files(
    fmt: str, paths: list[Path | str], landing: Path, mapping: dict | Path | str | None = None
) -> list[FileReport]:
    """Convert every source file, then publish all of them; on any error nothing is published.

    `mapping` (a YAML file or an already-loaded dict) is for the generic format only."""
    adapter = adapter_for(fmt)
    if adapter.needs_mapping and mapping is None:
        raise ImportFailed(f"the {fmt} format needs a mapping (--mapping mapping.yaml)")
    if mapping is not None and not adapter.needs_mapping:
        mapped = ", ".join(name for name, other in ADAPTERS.items() if other.needs_mapping)
        raise ImportFailed(f"a mapping is only for the {mapped} format, not {fmt!r}")
    if mapping is not None:
        mapping = adapter.checked_mapping(mapping)
    sources = [Path(p) for p in paths]
    for source in sources:
        if not source.is_file():
            raise ImportFailed(f"{source}: no such file")
        if not adapter.reads_excel and _is_zip(source):
            raise ImportFailed(
                f"{source}: an Excel workbook (or another zip file) is not a {fmt} file: "
                "only --format online_retail reads Excel; export the sheet to CSV"
            )
    reports: list[FileReport] = []
    pending: list[tuple[Path, Path]] = []
    con = duckdb.connect()
    try:
        prepare_session(con)
        _install_pseudonyms(con, mapping)
        sources = adapter.prepare_files(con, sources)  # side files (RetailRocket's item properties): loaded, not landed
        stems = [safe_stem(s) for s in sources]
        if len(set(stems)) != len(stems):
            raise ImportFailed("two source files map to the same landing name: " + ", ".join(map(str, sources)))
        for source, stem in zip(sources, stems, strict=True):
            try:
                notes = adapter.convert_file(con, source, stem, mapping)
            except duckdb.Error as exc:  # e.g. a line with too many fields: DuckDB names the line
                raise ImportFailed(f"{source}: not a well-formed {fmt} file: {_first_lines(exc)}") from exc
            _check_converted(con, source)
            parts, rows, rejects = _write_parts(con, fmt, source, stem, landing)
            pending += parts
            reports.append(
                FileReport(source=source, rows=rows, written=[f for _, f in parts], rejects=rejects, notes=notes)
            )
        _publish(pending, reports)
    except BaseException:
        for part, _ in pending:
            part.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return reports


def _publish(pending: list[tuple[Path, Path]], reports: list[FileReport]) -> None:
    """Rename .part files to their names; an existing file with other bytes is an error
    (raised before anything is renamed), one with the same bytes is left as it is."""
    conflicts = [f for p, f in pending if f.exists() and f.read_bytes() != p.read_bytes()]
    if conflicts:
        raise ImportFailed(
            "already in the landing folder with different content (a different file of the same name was "
            "imported before; rename the source): " + ", ".join(map(str, conflicts))
        )
    for part, final in pending:
        if final.exists():
            part.unlink()
            for report in reports:
                if final in report.written:
                    report.unchanged.append(final)
        else:
            part.replace(final)


def format_report(reports: list[FileReport]) -> str:
    lines = []
    for r in reports:
        extra = "".join(f", {k}: {v}" for k, v in sorted(r.notes.items()))
        lines.append(
            f"{r.source}: {r.rows} rows into {len(r.written) - (1 if r.rejects else 0)} landing file(s), "
            f"{r.rejects} unmappable line(s){extra}"
            + (f" ({len(r.unchanged)} already imported, unchanged)" if r.unchanged else "")
        )
    return "\n".join(lines)


def run_import(paths, fmt: str, sources: list[str], mapping: str | None = None) -> int:
    """The `shop-pipeline import` command: 0 on success, 1 with the reason on stderr."""
    import sys

    try:
        reports = import_files(fmt, sources, paths.landing, mapping)
    except ImportFailed as exc:
        print(f"import failed, nothing written: {exc}", file=sys.stderr)
        return 1
    print(format_report(reports))
    _record_first_partition(paths, reports)
    return 0


def _record_first_partition(paths, reports: list[FileReport]) -> None:
    """Record the imported data's first day as the shop's first partition (when none is yet)."""
    from shop_pipeline.settings import partitions_start, record_partitions_start
    from shop_pipeline.sources.landing import day_from_name

    days = [d for r in reports for f in r.written if (d := day_from_name(f.name)) is not None]
    if not days:
        return
    if record_partitions_start(paths, min(days)):
        print(f"first partition: {min(days)} (recorded in the shop home from the imported data)")
    elif min(days).isoformat() < partitions_start():
        print(
            f"the data starts on {min(days)}, before the shop's first partition {partitions_start()}: its files "
            f"dated earlier will be refused; set SHOP_PIPELINE_PARTITIONS_START={min(days)} to move it back"
        )
