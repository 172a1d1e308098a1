"""A generated shop built through the real `shop-pipeline` command with pseudonymisation on (one build
for the package: ingestion through scoring and the serving snapshot, with a Dagster instance under
the home, so that run metadata and logs are searched too)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV
from shop_pipeline.settings import ShopPaths

KEY = "9f2c7e1a5b3d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6"


def shop_command(home: Path, key_file: Path | None, *argv: str, check: bool = True, **env_extra: str):
    env = {k: v for k, v in os.environ.items() if k not in (PSEUDONYM_KEY_FILE_ENV, PSEUDONYM_KEY_ENV)}
    if key_file is not None:
        env[PSEUDONYM_KEY_FILE_ENV] = str(key_file)
    env.update(env_extra)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, "-m", "shop_pipeline.cli", *argv, "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if check and result.returncode not in (0, 3):  # 3: a model the small shop cannot train was skipped
        raise AssertionError(
            f"shop-pipeline {' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "pseudonym.key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def pseudonymised_shop(tmp_path_factory, key_file) -> ShopPaths:
    """Built once per session (not per package: pytest-randomly interleaves the packages' modules, and
    a package fixture is built again each time the order comes back); tests that change it work on a
    copy (`copied`)."""
    paths = ShopPaths.at(tmp_path_factory.mktemp("private-shop") / "home")
    shop_command(paths.home, key_file, "generate", "--events", "12000", "--days", "40", "--seed", "5")
    shop_command(paths.home, key_file, "run")
    return paths


def copied(shop: ShopPaths, target: Path) -> ShopPaths:
    """A copy of the built shop (the Dagster instance too) that a test may change."""
    import shutil

    shutil.copytree(shop.home, target, symlinks=True)
    return ShopPaths.at(target)
