"""The landing folder: partition day from a name, which files count, their fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import pytest

from shop_pipeline.sources.landing import day_from_name, discover, files_for_days, fingerprint


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("events_2025-01-02.csv", dt.date(2025, 1, 2)),
        ("2024-02-29-part1.jsonl", dt.date(2024, 2, 29)),
        # an impossible date is skipped, the next valid one counts
        ("export_2025-13-45_for_2025-03-04.csv", dt.date(2025, 3, 4)),
        ("2025-12-31.parquet", dt.date(2025, 12, 31)),
    ],
)
def test_day_from_name_valid(name, expected):
    assert day_from_name(name) == expected


@pytest.mark.parametrize(
    "name",
    ["events_2025-13-45.csv", "events_2025-02-30.csv", "events_2023-02-29.csv", "events.csv", "20250102.csv", ""],
)
def test_day_from_name_invalid_or_absent(name):
    assert day_from_name(name) is None


def _touch(path, content=b"x\n", mtime_ns=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_discover_missing_folder_is_empty(tmp_path):
    assert discover(tmp_path / "landing") == []


def test_discover_ignores_hidden_in_progress_and_escaping_symlinks(tmp_path):
    landing = tmp_path / "landing"
    events = landing / "events"
    _touch(events / "good_2025-01-02.csv")
    _touch(events / ".hidden_2025-01-02.csv")
    _touch(events / "upload_2025-01-02.csv.tmp")
    _touch(events / "upload_2025-01-02.csv.part")
    _touch(events / "upload_2025-01-02.csv.PART")
    outside = _touch(tmp_path / "secret" / "outside_2025-01-02.csv")
    (events / "link_out_2025-01-02.csv").symlink_to(outside)
    (events / "link_dir").symlink_to(outside.parent, target_is_directory=True)
    # a symlink to a file inside the landing folder is a regular landed file
    inside = _touch(landing / "archive" / "inside.csv")
    (events / "link_in_2025-01-03.csv").symlink_to(inside)
    # a directory is not a file
    (events / "subdir_2025-01-02.csv").mkdir()

    found = discover(landing)
    names = [f.relative for f in found]
    assert names == ["events/good_2025-01-02.csv", "events/link_in_2025-01-03.csv"]
    for f in found:
        assert f.path.is_absolute()
        assert f.path.resolve().is_relative_to(landing.resolve())
        assert f.day_from_name


def test_discover_ignores_files_in_hidden_directories(tmp_path):
    landing = tmp_path / "landing"
    _touch(landing / "events" / ".staging" / "x_2025-01-02.csv")
    _touch(landing / "events" / "ok_2025-01-02.csv")
    assert [f.relative for f in discover(landing)] == ["events/ok_2025-01-02.csv"]


def test_discover_sorts_by_day_then_arrival(tmp_path):
    landing = tmp_path / "landing"
    events = landing / "events"
    base = 1_700_000_000 * 10**9
    _touch(events / "z_2025-01-02.csv", mtime_ns=base + 1)
    _touch(events / "a_2025-01-02.csv", mtime_ns=base + 5)
    _touch(events / "m_2025-01-01.csv", mtime_ns=base + 9)
    _touch(events / "b_2025-01-02.csv", mtime_ns=base + 3)
    found = discover(landing)
    assert [f.relative for f in found] == [
        "events/m_2025-01-01.csv",
        "events/z_2025-01-02.csv",
        "events/b_2025-01-02.csv",
        "events/a_2025-01-02.csv",
    ]
    assert [f.arrived_ns for f in found] == [base + 9, base + 1, base + 3, base + 5]
    assert [f.relative for f in files_for_days(landing, {dt.date(2025, 1, 2)})] == [
        "events/z_2025-01-02.csv",
        "events/b_2025-01-02.csv",
        "events/a_2025-01-02.csv",
    ]


def test_discover_day_from_mtime_when_name_has_no_date(tmp_path):
    landing = tmp_path / "landing"
    when = dt.datetime(2025, 3, 4, 23, 30, tzinfo=dt.UTC)
    ns = int(when.timestamp()) * 10**9
    _touch(landing / "events" / "nodate.csv", mtime_ns=ns)
    (found,) = discover(landing)
    assert found.day == dt.date(2025, 3, 4)
    assert not found.day_from_name
    assert found.file_format == "csv"


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        (b"", 0),
        (b"a", 1),
        (b"a\n", 1),
        (b"a\nb", 2),
        (b"a\nb\n", 2),
        (b"\n", 1),
        (b"\n\n", 2),
        (b"a\r\nb\r\n", 2),
        (b"a\r\nb", 2),
    ],
)
def test_fingerprint_counts_physical_lines(tmp_path, content, lines):
    path = _touch(tmp_path / "f.csv", content)
    fp = fingerprint(path)
    assert fp.line_count == lines
    assert fp.size_bytes == len(content)
    assert fp.sha256 == hashlib.sha256(content).hexdigest()


def test_fingerprint_large_file_spanning_chunks(tmp_path):
    content = b"0123456789\n" * 500_000 + b"tail"  # > 4 MiB, last line without newline
    path = _touch(tmp_path / "big.csv", content)
    fp = fingerprint(path)
    assert fp.line_count == 500_001
    assert fp.sha256 == hashlib.sha256(content).hexdigest()
