"""Starting the API: `shop-pipeline serve`.

Security defaults: it binds 127.0.0.1; a bearer token is read from --token-file or
$SHOP_PIPELINE_SERVE_TOKEN, and is required when the API binds any other address.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

TOKEN_ENV = "SHOP_PIPELINE_SERVE_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class ServeConfigError(ValueError):
    """The serve settings are unsafe or incomplete (the message says what to set)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token_file: str | os.PathLike | None) -> str | None:
    if token_file:
        token = Path(token_file).read_text().strip()
        if not token:
            raise ServeConfigError(f"token file {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV, "").strip() or None


def check_settings(host: str, token: str | None) -> None:
    if not is_loopback(host) and token is None:
        raise ServeConfigError(
            f"binding {host} exposes the API beyond this machine: give a bearer token with --token-file "
            f"or ${TOKEN_ENV} (or bind {DEFAULT_HOST})"
        )


ROOT_ENV = "SHOP_PIPELINE_SERVE_ROOT"


def app_from_environment():
    """The app of a worker process (uvicorn starts workers from an import string)."""
    from shop_pipeline.pseudonyms import pseudonymiser_from_env
    from shop_pipeline.serving.app import create_app

    return create_app(
        os.environ[ROOT_ENV], token=os.environ.get(TOKEN_ENV) or None, pseudonymiser=pseudonymiser_from_env()
    )


def serve(
    home: str | os.PathLike,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token_file: str | os.PathLike | None = None,
    log_level: str = "warning",
    workers: int = 1,
) -> None:
    """Serve until stopped. With several workers (processes: order risk is CPU-bound Python, one
    process uses one core) each loads the snapshot and swaps on its own."""
    import uvicorn

    from shop_pipeline.pseudonyms import PrivacyKeyError, pseudonymiser_from_env
    from shop_pipeline.serving.app import create_app
    from shop_pipeline.serving.snapshot import serving_root

    token = read_token(token_file)
    try:
        pseudonymiser = pseudonymiser_from_env()  # the workers read it again: a bad key fails here first
    except PrivacyKeyError as exc:
        raise ServeConfigError(str(exc)) from None
    check_settings(host, token)
    root = serving_root(Path(home).resolve())
    # One request is a few rows: OpenMP threads would cost more to wake than they save, and
    # several workers' threads would fight for the cores. Parallelism comes from the workers.
    # (Set before scikit-learn and its OpenMP library load; the environment can override.)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("SHOP_PIPELINE_THREADS", "1")
    if workers > 1:
        os.environ[ROOT_ENV] = str(root)
        if token is not None:
            os.environ[TOKEN_ENV] = token
        uvicorn.run(
            "shop_pipeline.serving.server:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
        return
    uvicorn.run(
        create_app(root, token=token, pseudonymiser=pseudonymiser),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
    )
