"""Same config, same bytes; another seed, other bytes."""

from __future__ import annotations

from shop_pipeline_tests.synth.conftest import make_shop


def _snapshot(home):
    return {p.relative_to(home).as_posix(): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path, csv_shop):
    again = make_shop(tmp_path)
    assert again.config == csv_shop.config
    assert _snapshot(again.home) == _snapshot(csv_shop.home)


def test_same_seed_same_bytes_parquet(tmp_path):
    a = make_shop(tmp_path / "a", format="parquet", events=5000, days=5)
    b = make_shop(tmp_path / "b", format="parquet", events=5000, days=5)
    assert _snapshot(a.home) == _snapshot(b.home)


def test_other_seed_other_bytes(tmp_path, csv_shop):
    other = make_shop(tmp_path, seed=8)
    a, b = _snapshot(other.home), _snapshot(csv_shop.home)
    assert a.keys() != b.keys() or a != b
    first = "landing/events/events_2025-01-01.csv"
    assert a[first] != b[first]
