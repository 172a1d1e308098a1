from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from shop_pipeline.synth import GeneratorConfig, generate_shop

SMALL = dict(events=20_000, days=14, seed=7)


@dataclass
class Shop:
    home: Path
    config: GeneratorConfig

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def generation(self) -> dict:
        return json.loads((self.home / "ground_truth" / "generation.json").read_text())

    def truth(self) -> list[dict]:
        with open(self.home / "ground_truth" / "defects.csv", newline="") as f:
            return list(csv.DictReader(f))

    def fraud_labels(self) -> list[dict]:
        with open(self.home / "ground_truth" / "fraud_labels.csv", newline="") as f:
            return list(csv.DictReader(f))

    def event_files(self) -> list[str]:
        return sorted(p.relative_to(self.landing).as_posix() for p in (self.landing / "events").iterdir())

    def raw_lines(self, rel: str) -> list[bytes]:
        """Data lines (header dropped for csv), raw bytes, 0-based list (line n is [n - 1])."""
        data = (self.landing / rel).read_bytes()
        lines = data.split(b"\n")
        assert lines[-1] == b"", "file must end with a newline"
        lines = lines[:-1]
        return lines[1:] if rel.endswith(".csv") else lines


def parse_csv_line(raw: bytes) -> list[str] | None:
    """Fields of one csv line, or None when it is not well-formed on its own."""
    text = raw.decode("utf-8")
    if text.count('"') % 2:
        return None
    return next(csv.reader(io.StringIO(text)))


def make_shop(root: Path, **overrides) -> Shop:
    config = GeneratorConfig(**{**SMALL, **overrides})
    home = root / f"shop-{config.format}-{config.defects}-{config.seed}"
    generate_shop(home, config)
    return Shop(home, config)


@pytest.fixture(scope="session")
def csv_shop(tmp_path_factory) -> Shop:
    return make_shop(tmp_path_factory.mktemp("csv"))


@pytest.fixture(scope="session")
def jsonl_shop(tmp_path_factory) -> Shop:
    return make_shop(tmp_path_factory.mktemp("jsonl"), format="jsonl")


@pytest.fixture(scope="session")
def parquet_shop(tmp_path_factory) -> Shop:
    return make_shop(tmp_path_factory.mktemp("parquet"), format="parquet")


@pytest.fixture(scope="session")
def clean_shop(tmp_path_factory) -> Shop:
    return make_shop(tmp_path_factory.mktemp("clean"), defects="none")
