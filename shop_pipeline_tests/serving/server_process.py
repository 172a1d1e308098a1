"""A real `shop-pipeline serve` process on a free 127.0.0.1 port, stopped by the test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(home: Path, *extra: str, env: dict | None = None, wait_ready: bool = True,
                   ) -> Iterator[httpx.Client]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shop_pipeline.cli", "serve", "--home", str(home), "--port", str(port), *extra],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, timeout=10) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited with {process.returncode}: {process.stdout.read()}")
                try:
                    response = client.get("/readyz" if wait_ready else "/healthz")
                    if response.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("the server did not become ready in 60 s")
                time.sleep(0.1)
            yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
