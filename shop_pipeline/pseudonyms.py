"""Pseudonymised customers: a keyed HMAC-SHA256 in place of every customer id and session id.

With a key configured ($SHOP_PIPELINE_PSEUDONYM_KEY_FILE, a file only its owner may read, or
$SHOP_PIPELINE_PSEUDONYM_KEY), ingestion writes `pseudonym(id)` instead of the id: the first 32
hex digits (128 bits) of HMAC-SHA256(key, id as UTF-8). The same id always gets the same
pseudonym under the same key, so features, models and scores work unchanged; without the key a
pseudonym cannot be traced back to the id (nor an id guessed and checked against it).

The key never enters the warehouse, a log or run metadata: DuckDB computes the pseudonyms with
a TEMP macro (kept in the connection's memory, never written to the database file) and the
warehouse records only the key's fingerprint (an HMAC of a fixed text), so a warehouse built
with one key refuses ingestion with another (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path

import duckdb

PSEUDONYM_KEY_FILE_ENV = "SHOP_PIPELINE_PSEUDONYM_KEY_FILE"
PSEUDONYM_KEY_ENV = "SHOP_PIPELINE_PSEUDONYM_KEY"
PSEUDONYM_HEX_DIGITS = 32
MIN_KEY_BYTES = 16
CLEAR = "clear"  # the fingerprint a warehouse of clear ids records
# An erased customer's tombstone: erased(id) = the pseudonym of this prefix + id (a SHA-256 of it
# without a key), so it is neither the id nor its pseudonym.
TOMBSTONE_PREFIX = "erased:"


class PrivacyKeyError(ValueError):
    """A key setting cannot be used (the message says which and how to fix it; never the key)."""


def read_key_file(path: str | os.PathLike, variable: str) -> bytes:
    """The key in `path` (trailing line breaks and spaces dropped): only its owner may read it."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise PrivacyKeyError(f"{variable}={path}: cannot read the key file ({exc.strerror or exc})") from None
    if mode & 0o077:
        raise PrivacyKeyError(
            f"{variable}={path}: the key file is readable by others (mode {mode:04o}); make it the owner's only: "
            f"chmod 600 {path}"
        )
    key = path.read_bytes().rstrip(b"\r\n\t ")
    return _checked(key, f"{variable}={path}")


def _checked(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise PrivacyKeyError(
            f"{where}: the key has {len(key)} bytes, at least {MIN_KEY_BYTES} are needed "
            "(make one with: openssl rand -hex 32)"
        )
    return key


class Pseudonymiser:
    """HMAC-SHA256 pseudonyms under one key (its repr and str never show the key)."""

    __slots__ = ("_aead", "_key")

    def __init__(self, key: bytes):
        self._key = _checked(bytes(key), "the pseudonym key")
        self._aead = None  # the lookup's AES-GCM, made on first use (seal / unseal)

    def __repr__(self) -> str:
        return f"Pseudonymiser(fingerprint={self.fingerprint})"

    __str__ = __repr__

    def __call__(self, value: str | None) -> str | None:
        if value is None:
            return None
        digest = hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX_DIGITS]

    @property
    def fingerprint(self) -> str:
        """What the warehouse records to know its key again: it reveals nothing of the key."""
        return "hmac:" + hmac.new(self._key, b"shop_pipeline key fingerprint", hashlib.sha256).hexdigest()[:16]

    def seal(self, pseudonym: str, clear: str) -> bytes:
        """The clear id encrypted for the re-identification lookup (reidentify.py): AES-256-GCM under
        a key derived from this key (never the HMAC key itself), the pseudonym bound as associated
        data so a sealed id cannot be moved to another row. A fresh 12-byte nonce precedes it."""
        nonce = os.urandom(12)
        return nonce + self._lookup_cipher().encrypt(nonce, clear.encode("utf-8"), pseudonym.encode("utf-8"))

    def unseal(self, pseudonym: str, sealed: bytes) -> str:
        """The clear id of `seal`; PrivacyKeyError under another key (or a sealed id moved to another row)."""
        from cryptography.exceptions import InvalidTag

        try:
            clear = self._lookup_cipher().decrypt(bytes(sealed[:12]), bytes(sealed[12:]), pseudonym.encode())
        except InvalidTag:
            raise PrivacyKeyError(
                "the re-identification lookup does not open with the pseudonym key set (another key?)"
            ) from None
        return clear.decode("utf-8")

    def _lookup_cipher(self):
        if self._aead is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(hmac.new(self._key, b"shop_pipeline re-identification lookup", hashlib.sha256).digest())
        return self._aead

    def sql_macro(self) -> str:
        """The body of the TEMP macro `pseudonym(x)`: the same value as __call__, computed by DuckDB
        (HMAC = H(key ^ opad || H(key ^ ipad || x)), the pads as blob literals of hex digits)."""
        block = (hashlib.sha256(self._key).digest() if len(self._key) > 64 else self._key).ljust(64, b"\0")
        inner = bytes(b ^ 0x36 for b in block).hex()
        outer = bytes(b ^ 0x5C for b in block).hex()
        return (
            f"CASE WHEN x IS NULL THEN NULL ELSE substr(sha256(unhex('{outer}') || "
            f"unhex(sha256(unhex('{inner}') || encode(x)))), 1, {PSEUDONYM_HEX_DIGITS}) END"
        )


def pseudonymiser_from_env(environ: os._Environ | dict | None = None) -> Pseudonymiser | None:
    """The configured pseudonymiser, or None when no key is set (ids stay as landed)."""
    environ = os.environ if environ is None else environ
    key_file = environ.get(PSEUDONYM_KEY_FILE_ENV, "").strip()
    key_text = environ.get(PSEUDONYM_KEY_ENV, "").strip()
    if key_file and key_text:
        raise PrivacyKeyError(f"set one of {PSEUDONYM_KEY_FILE_ENV} and {PSEUDONYM_KEY_ENV}, not both")
    if key_file:
        return Pseudonymiser(read_key_file(key_file, PSEUDONYM_KEY_FILE_ENV))
    if key_text:
        return Pseudonymiser(_checked(key_text.encode("utf-8"), PSEUDONYM_KEY_ENV))
    return None


def install_macros(con: duckdb.DuckDBPyConnection, pseudonymiser: Pseudonymiser | None) -> None:
    """TEMP macros the ingestion's SQL calls: erased(x) (the tombstone of id x), pseudonym_key() (the
    key's fingerprint, or 'clear'), pseudonym(x) (x itself without a key) and
    redacted(x) (NULL with a key: a line that is no row keeps its file, line and reason, not its
    text, which may hold an id; the landing file still has it)."""
    fingerprint = CLEAR if pseudonymiser is None else pseudonymiser.fingerprint
    con.execute(f"CREATE OR REPLACE TEMP MACRO pseudonym_key() AS '{fingerprint}'")
    if pseudonymiser is None:
        con.execute("CREATE OR REPLACE TEMP MACRO pseudonym(x) AS x")
        con.execute("CREATE OR REPLACE TEMP MACRO redacted(x) AS x")
        con.execute(f"CREATE OR REPLACE TEMP MACRO erased(x) AS substr(sha256('{TOMBSTONE_PREFIX}' || x), 1, 32)")
        return
    con.execute(f"CREATE OR REPLACE TEMP MACRO pseudonym(x) AS {pseudonymiser.sql_macro()}")
    con.execute("CREATE OR REPLACE TEMP MACRO redacted(x) AS CAST(NULL AS VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP MACRO erased(x) AS pseudonym('{TOMBSTONE_PREFIX}' || x)")
