"""The default profile writes exactly the bytes it wrote before profiles existed (issue 23).

The digest below was computed on the generator before `--profile` / `--products` were added:
any change to the default stream (a new random draw, a reordered spawn, a new key in
generation.json) changes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from shop_pipeline.synth import GeneratorConfig, generate_shop

EXPECTED_SHA256 = "5d71f499348806611e240732f18c071e4c58456c7ad9517123abf628465723bb"


def shop_digest(home: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        digest.update(path.relative_to(home).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_default_shop_bytes_unchanged(tmp_path: Path) -> None:
    generate_shop(tmp_path, GeneratorConfig(events=4000, days=12, seed=11, start=dt.date(2025, 3, 1)))
    assert shop_digest(tmp_path) == EXPECTED_SHA256
