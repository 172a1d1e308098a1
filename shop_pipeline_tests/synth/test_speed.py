"""Timing of a 1M-event shop (printed, not asserted): run with -m slow -s."""

from __future__ import annotations

import time

import pytest

from shop_pipeline.synth import GeneratorConfig, generate_shop


@pytest.mark.slow
def test_one_million_events_timing(tmp_path):
    started = time.perf_counter()
    summary = generate_shop(tmp_path, GeneratorConfig(events=1_000_000))
    seconds = time.perf_counter() - started
    print(
        f"\n1M events over 90 days: {seconds:.1f} s ({summary.total_events:,} events); 10M ~ {10 * seconds / 60:.1f} min"
    )
    assert abs(summary.total_events - 1_000_000) < 30_000
