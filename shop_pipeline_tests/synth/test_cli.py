"""The command line: python -m shop_pipeline.synth."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from shop_pipeline.synth.cli import add_generate_arguments, main


def test_help_runs():
    result = subprocess.run(
        [sys.executable, "-m", "shop_pipeline.synth", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for option in ("--events", "--days", "--seed", "--start", "--format", "--defects", "--home"):
        assert option in result.stdout


def test_defaults():
    args = add_generate_arguments(argparse.ArgumentParser()).parse_args([])
    assert (args.events, args.days, args.seed, args.format, args.defects) == (200_000, 90, 42, "csv", "default")
    assert str(args.start) == "2025-01-01" and args.home is None


def test_main_writes_under_home_from_env(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOP_PIPELINE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["--events", "3000", "--days", "4", "--format", "jsonl", "--start", "2025-03-01"]) == 0
    out = capsys.readouterr().out
    assert "events" in out and "defects" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    gen = json.loads((tmp_path / "home/ground_truth/generation.json").read_text())
    assert gen["config"]["format"] == "jsonl" and gen["config"]["start"] == "2025-03-01"
    assert (tmp_path / "home/landing/events/events_2025-03-01.jsonl").exists()


def test_bad_arguments_exit():
    with pytest.raises(SystemExit):
        main(["--format", "xml"])
    with pytest.raises(SystemExit):
        main(["--events", "0"])
