"""Encryption at rest: the warehouse as an encrypted DuckDB database (docs/privacy.md).

With $SHOP_PIPELINE_WAREHOUSE_KEY_FILE (a file only its owner may read) every connection attaches
the warehouse with DuckDB's own database encryption (AES-GCM: ATTACH ... (ENCRYPTION_KEY ...)) under
its usual catalog name, so every query runs unchanged. A wrong key, a missing key for an encrypted
file, or a key for a file that is not encrypted is one WarehouseKeyError that says what to do;
DuckDB never gets to create a new, empty warehouse beside the real one.

DuckDB writes encrypted files only with its httpfs extension loaded (OpenSSL); it reads them
without. Where httpfs cannot be loaded, writing is refused with the command that installs it.
$SHOP_PIPELINE_DUCKDB_UNSAFE_CRYPTO=1 makes DuckDB write with its built-in library instead, which
DuckDB itself calls not securely encrypted: for tests on machines without httpfs, never for data.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from shop_pipeline.pseudonyms import PrivacyKeyError, read_key_file

WAREHOUSE_KEY_FILE_ENV = "SHOP_PIPELINE_WAREHOUSE_KEY_FILE"
UNSAFE_CRYPTO_ENV = "SHOP_PIPELINE_DUCKDB_UNSAFE_CRYPTO"


class WarehouseKeyError(PrivacyKeyError):
    """The warehouse cannot be opened with the key setting (the message says why and what to do)."""


def warehouse_key() -> str | None:
    """The configured warehouse key (hex or text, as in its file), or None."""
    key_file = os.environ.get(WAREHOUSE_KEY_FILE_ENV, "").strip()
    if not key_file:
        return None
    return read_key_file(key_file, WAREHOUSE_KEY_FILE_ENV).decode("utf-8")


def _quoted(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def enable_writes(con: duckdb.DuckDBPyConnection) -> None:
    """Let `con` write encrypted databases (httpfs, or the unsafe library where asked for)."""
    if os.environ.get(UNSAFE_CRYPTO_ENV, "").strip() == "1":
        con.execute("SET force_mbedtls_unsafe = 'true'")
        return
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        raise WarehouseKeyError(
            "writing an encrypted warehouse needs DuckDB's httpfs extension (OpenSSL), which is not installed: "
            "python -c \"import duckdb; duckdb.sql('INSTALL httpfs')\" (once, with network access)"
        ) from None


def attach_options(key: str | None, read_only: bool) -> str:
    options = [f"ENCRYPTION_KEY {_quoted(key)}"] if key else []
    if read_only:
        options.append("READ_ONLY")
    return f" ({', '.join(options)})" if options else ""


def open_database(path: Path | str, read_only: bool = False, key: str | None = None) -> duckdb.DuckDBPyConnection:
    """A connection whose default catalog is the warehouse at `path`, decrypted with `key` when given."""
    path = Path(path)
    if key is None:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.CatalogException as exc:
            if "encrypted" in str(exc):
                raise WarehouseKeyError(
                    f"the warehouse {path} is encrypted: set {WAREHOUSE_KEY_FILE_ENV} to the file holding its key"
                ) from None
            raise
    con = duckdb.connect(":memory:")
    try:
        if not read_only:
            enable_writes(con)
        con.execute(f"ATTACH {_quoted(path)} AS {catalog_name(path)}{attach_options(key, read_only)}")
        con.execute(f"USE {catalog_name(path)}")
    except duckdb.InvalidInputException as exc:
        con.close()
        if "encryption key" in str(exc).lower():
            raise WarehouseKeyError(
                f"wrong key for the warehouse {path} ({WAREHOUSE_KEY_FILE_ENV}): nothing was opened or changed"
            ) from None
        raise
    except duckdb.CatalogException as exc:
        con.close()
        if "not encrypted" in str(exc):
            raise WarehouseKeyError(
                f"the warehouse {path} is not encrypted, but {WAREHOUSE_KEY_FILE_ENV} is set: encrypt it first with "
                "`shop-pipeline encrypt-warehouse` (docs/privacy.md), or unset the variable"
            ) from None
        raise
    except BaseException:
        con.close()
        raise
    return con


def check_key(path: Path | str) -> None:
    """Raise the WarehouseKeyError the key setting would give at the first connection (the key file's
    checks; opening the existing warehouse read-only). A lock held by a running writer is no answer."""
    key = warehouse_key()
    if not Path(path).is_file():
        return
    try:
        open_database(path, read_only=True, key=key).close()
    except WarehouseKeyError:
        raise
    except duckdb.Error:
        return


def catalog_name(path: Path | str) -> str:
    """The name DuckDB gives the file's catalog when it opens it directly (its stem), quoted."""
    return '"' + Path(path).stem.replace('"', '""') + '"'
