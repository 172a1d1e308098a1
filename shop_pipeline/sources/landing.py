"""The landing folder: which event files exist, which day each belongs to, and their fingerprints.

A file's day (its partition) is the first YYYY-MM-DD in its name; a file without one is
assigned to the UTC day of its modification time. Only regular files inside the landing
folder are considered: symlinks that leave it, hidden files and in-progress uploads
(`*.tmp`, `*.part`, names starting with '.', and anything inside a folder whose name
starts with '.') are ignored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
IN_PROGRESS_SUFFIXES = {".tmp", ".part", ".partial", ".crdownload"}
_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class LandedFile:
    path: Path  # absolute, resolved, inside the landing folder
    relative: str  # posix path relative to the landing folder: the name the warehouse records
    day: dt.date
    day_from_name: bool
    arrived_ns: int = 0  # modification time: of two files with the same bytes, the earlier is the original

    @property
    def file_format(self) -> str | None:
        return SUPPORTED_SUFFIXES.get(self.path.suffix.lower())


@dataclass(frozen=True)
class Fingerprint:
    size_bytes: int
    sha256: str
    line_count: int  # physical lines, the last one counted even without a trailing newline


def day_from_name(name: str) -> dt.date | None:
    for match in _DATE_IN_NAME.finditer(name):
        try:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
    return None


def is_inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def discover(landing_root: Path, subfolder: str = "events") -> list[LandedFile]:
    """Every candidate event file under landing_root/subfolder, in arrival order per day."""
    root = landing_root.resolve()
    folder = root / subfolder
    if not folder.is_dir():
        return []
    found: list[LandedFile] = []
    for candidate in folder.rglob("*"):
        hidden = any(part.startswith(".") for part in candidate.relative_to(folder).parts)
        if hidden or candidate.suffix.lower() in IN_PROGRESS_SUFFIXES:
            continue
        if not candidate.is_file() or not is_inside(candidate, root):
            continue
        resolved = candidate.resolve()
        day = day_from_name(candidate.name)
        named = day is not None
        if day is None:
            mtime = candidate.stat().st_mtime
            day = dt.datetime.fromtimestamp(mtime, tz=dt.UTC).date()
        relative = candidate.relative_to(root).as_posix()
        arrived = candidate.stat().st_mtime_ns
        found.append(LandedFile(path=resolved, relative=relative, day=day, day_from_name=named, arrived_ns=arrived))
    found.sort(key=lambda f: (f.day, f.arrived_ns, f.relative))
    return found


def files_for_days(landing_root: Path, days: set[dt.date]) -> list[LandedFile]:
    return [f for f in discover(landing_root) if f.day in days]


def fingerprint(path: Path) -> Fingerprint:
    """SHA-256, size and physical line count in one streaming pass."""
    digest = hashlib.sha256()
    size = 0
    newlines = 0
    last_byte = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            last_byte = chunk[-1:]
    lines = newlines + (1 if size and last_byte != b"\n" else 0)
    return Fingerprint(size_bytes=size, sha256=digest.hexdigest(), line_count=lines)


def read_first_line(path: Path, limit: int = 64 * 1024) -> bytes:
    with path.open("rb") as handle:
        return handle.readline(limit)
