"""The retention purge rewrites landed files without the data lines (Parquet: rows) it names by
number, as ingestion numbers them, and prediction logs without the lines a rule selects; a killed
purge's staged rewrites are found again."""

import duckdb

from shop_pipeline.sources.landing_erase import leftover_staged, put_in_place, stage_rewrite_lines, stage_rewrite_text
from shop_pipeline_tests.landing_fixtures import HEADER, event_line


def test_the_numbered_lines_go_from_csv_json_lines_and_parquet_and_nothing_else(tmp_path):
    csv = tmp_path / "events_2025-01-01.CSV"  # the suffix in any case
    lines = [event_line(f"e{i}") for i in range(1, 5)]
    csv.write_bytes("\r\n".join([HEADER, *lines, ""]).encode())
    rewrite = stage_rewrite_lines(csv, frozenset({1, 3}), "purge")
    assert rewrite.removed_lines == (1, 3)  # the line after the header is line 1
    put_in_place(rewrite)
    assert csv.read_bytes() == "\r\n".join([HEADER, lines[1], lines[3], ""]).encode()

    jsonl = tmp_path / "events_2025-01-01.jsonl"
    jsonl.write_text('{"event_id": "e1"}\n{"event_id": "e2"}\n')
    put_in_place(stage_rewrite_lines(jsonl, frozenset({1}), "purge"))  # no header: the first line is 1
    assert jsonl.read_text() == '{"event_id": "e2"}\n'

    (tmp_path / "o'brien").mkdir()  # a quote in the landing folder's path
    parquet = tmp_path / "o'brien" / "events_2025-01-02.parquet"
    duckdb.sql("SELECT * FROM (VALUES ('e1'), ('e2'), ('e3')) AS t(event_id)").write_parquet(str(parquet))
    rewrite = stage_rewrite_lines(parquet, frozenset({2}), "purge")
    assert rewrite.removed_lines == (2,)
    put_in_place(rewrite)
    assert duckdb.sql("SELECT event_id FROM read_parquet($p)", params={"p": str(parquet)}).fetchall() == [
        ("e1",),
        ("e3",),
    ]

    # nothing to remove: no rewrite and nothing staged
    assert stage_rewrite_lines(jsonl, frozenset(), "purge") is None
    assert stage_rewrite_lines(jsonl, frozenset({7}), "purge") is None
    assert stage_rewrite_lines(tmp_path / "notes.txt", frozenset({1}), "purge") is None
    assert leftover_staged(tmp_path) == []


def test_a_log_loses_the_lines_the_rule_selects_by_number_and_text(tmp_path):
    log = tmp_path / "answers.jsonl"
    log.write_text('{"at": "2025-01-01"}\n{"at": "2025-03-01"}\n{"at": "2024-12-31"}\n')
    seen = []

    def before_2025(number, text):
        seen.append((number, text))
        return '"2024' in text or '"2025-01' in text

    rewrite = stage_rewrite_text(log, before_2025, "purge")
    assert seen[0] == (1, '{"at": "2025-01-01"}')  # numbered from 1, without the line end
    assert rewrite.removed_lines == (1, 3)
    assert leftover_staged(tmp_path) == [rewrite.staged]  # staged beside it until put in place
    put_in_place(rewrite)
    assert log.read_text() == '{"at": "2025-03-01"}\n'
    assert leftover_staged(tmp_path) == []

    table = tmp_path / "answers.csv"  # a CSV log keeps its header
    table.write_text("at,customer\n2024-01-01,a\n2025-06-01,b\n")
    put_in_place(stage_rewrite_text(table, lambda number, text: number == 1, "purge"))  # its first data line
    assert table.read_text() == "at,customer\n2025-06-01,b\n"
    assert stage_rewrite_text(table, lambda number, text: False, "purge") is None


def test_leftover_rewrites_are_found_in_every_subfolder_and_a_missing_folder_has_none(tmp_path):
    (tmp_path / "events" / "2025").mkdir(parents=True)
    staged = [tmp_path / "events" / "2025" / ".b.csv.r1.erasing", tmp_path / "events" / ".a.csv.r2.erasing"]
    for path in [*staged, tmp_path / "events" / "a.csv", tmp_path / "events" / "a.csv.erasing"]:
        path.write_text("x")
    assert leftover_staged(tmp_path) == sorted(staged)
    assert leftover_staged(tmp_path / "missing") == []
