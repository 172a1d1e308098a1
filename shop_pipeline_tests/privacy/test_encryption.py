"""Encryption at rest: an encrypted warehouse's bytes hold no product or customer id, and a wrong or
missing key is one clear error that leaves the file as it was (never a new, empty warehouse).

DuckDB writes encrypted files with OpenSSL from its httpfs extension, which this machine cannot
install; the tests write with DuckDB's built-in library instead (SHOP_PIPELINE_DUCKDB_UNSAFE_CRYPTO),
the same file format and the same code path otherwise (warehouse/encryption.py)."""

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shop_pipeline.forget import forget
from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.encryption import UNSAFE_CRYPTO_ENV, WAREHOUSE_KEY_FILE_ENV, WarehouseKeyError
from shop_pipeline_tests.privacy.scan import landed_ids, tokens
from shop_pipeline_tests.warehouse.helpers import run_days

CONFIG = GeneratorConfig(events=3000, days=4, seed=2, defects="none")
DAYS = [CONFIG.start + dt.timedelta(days=i) for i in range(CONFIG.days)]


def _key_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def _build(home: Path) -> ShopPaths:
    paths = ShopPaths.at(home).ensure()
    generate_shop(paths.home, CONFIG)
    with connect(paths.warehouse) as con:
        run_days(con, paths.landing, DAYS, now=dt.datetime(2025, 2, 1))
    return paths


def _known_ids(paths: ShopPaths) -> set[bytes]:
    with connect(paths.warehouse) as con:
        products = {p for (p,) in con.execute("SELECT DISTINCT product_id FROM staging.events").fetchall()}
    return {i.encode() for i in products | landed_ids(paths.landing)}


@pytest.fixture
def clean_env(monkeypatch):
    for name in (PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV, WAREHOUSE_KEY_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(UNSAFE_CRYPTO_ENV, "1")
    return monkeypatch


def test_an_encrypted_warehouse_holds_no_known_id_in_its_bytes(tmp_path, clean_env):
    plain = _build(tmp_path / "plain")
    ids = _known_ids(plain)
    assert tokens(plain.warehouse.read_bytes()) & ids, "the plain file shows ids: the search can find them"
    clean_env.setenv(WAREHOUSE_KEY_FILE_ENV, str(_key_file(tmp_path, "w.key", "0123456789abcdef0123456789abcdef")))
    encrypted = _build(tmp_path / "encrypted")
    assert _known_ids(encrypted) == ids  # the same shop, readable with the key
    assert tokens(encrypted.warehouse.read_bytes()) & ids == set()
    # forget rewrites the file under the same key
    forget(encrypted, [sorted(i for i in landed_ids(encrypted.landing) if i.startswith("u"))[0]])
    assert tokens(encrypted.warehouse.read_bytes()) & ids == set()
    with connect(encrypted.warehouse) as con:
        assert con.execute("SELECT count(*) FROM privacy.erasures").fetchone()[0] == 1


def test_a_wrong_or_missing_key_is_one_clear_error_and_changes_nothing(tmp_path, clean_env):
    clean_env.setenv(WAREHOUSE_KEY_FILE_ENV, str(_key_file(tmp_path, "w.key", "the right key, long enough")))
    paths = _build(tmp_path / "shop")
    before = hashlib.sha256(paths.warehouse.read_bytes()).hexdigest()
    files = sorted(paths.warehouse.parent.iterdir())
    clean_env.setenv(WAREHOUSE_KEY_FILE_ENV, str(_key_file(tmp_path, "wrong.key", "the wrong key, long enough")))
    for read_only in (False, True):
        with pytest.raises(WarehouseKeyError, match="wrong key"), connect(paths.warehouse, read_only=read_only):
            pass
    clean_env.delenv(WAREHOUSE_KEY_FILE_ENV)
    with (
        pytest.raises(WarehouseKeyError, match="is encrypted: set SHOP_PIPELINE_WAREHOUSE_KEY_FILE"),
        connect(paths.warehouse),
    ):
        pass
    assert hashlib.sha256(paths.warehouse.read_bytes()).hexdigest() == before
    assert sorted(paths.warehouse.parent.iterdir()) == files
    # the command line says it in one line, without a traceback, before any work
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env[WAREHOUSE_KEY_FILE_ENV] = str(tmp_path / "wrong.key")
    result = subprocess.run(
        [sys.executable, "-m", "shop_pipeline.cli", "run", "--home", str(paths.home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2
    assert "wrong key" in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert "the wrong key" not in result.stderr + result.stdout
    assert not (paths.home / "dagster_home").exists()


def test_encrypt_warehouse_encrypts_a_plain_one_and_changes_its_key(tmp_path, clean_env):
    from shop_pipeline import cli

    paths = _build(tmp_path / "shop")
    first = _key_file(tmp_path, "first.key", "first key of the warehouse")
    assert cli.main(["encrypt-warehouse", "--key-file", str(first), "--home", str(paths.home)]) == 0
    with pytest.raises(WarehouseKeyError), connect(paths.warehouse):
        pass
    clean_env.setenv(WAREHOUSE_KEY_FILE_ENV, str(first))
    with connect(paths.warehouse) as con:
        events = con.execute("SELECT count(*) FROM staging.events").fetchone()[0]
    second = _key_file(tmp_path, "second.key", "second key of the warehouse")
    assert cli.main(["encrypt-warehouse", "--key-file", str(second), "--home", str(paths.home)]) == 0
    with pytest.raises(WarehouseKeyError, match="wrong key"), connect(paths.warehouse):
        pass
    clean_env.setenv(WAREHOUSE_KEY_FILE_ENV, str(second))
    with connect(paths.warehouse) as con:
        assert con.execute("SELECT count(*) FROM staging.events").fetchone()[0] == events > 0
