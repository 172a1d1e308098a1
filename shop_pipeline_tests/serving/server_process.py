"""A real `shop-pipeline serve` process on a free 127.0.0.1 port, stopped by the test.

With SHOP_PIPELINE_TEST_SERVER=in-process the same app runs under uvicorn in a thread of the
test process instead (benchmarks/mutation.py sets it: mutmut sees which tests reach which
function only in its own process).
"""

from __future__ import annotations

import contextlib
import io
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


IN_PROCESS_ENV = "SHOP_PIPELINE_TEST_SERVER"


class _ThreadServer:
    """uvicorn serving `create_app` in a thread, with the few methods of Popen that the waiting uses."""

    def __init__(self, home: Path, port: int, extra: tuple[str, ...], env: dict | None) -> None:
        import threading

        import uvicorn

        from shop_pipeline.serving.app import create_app
        from shop_pipeline.serving.server import TOKEN_ENV, read_token
        from shop_pipeline.serving.snapshot import serving_root

        options = dict(zip(extra[::2], extra[1::2]))
        if set(options) - {"--token-file"} or len(extra) % 2:
            raise ValueError(f"in-process test server: unsupported serve options {extra}")
        token = read_token(options.get("--token-file")) or (env or {}).get(TOKEN_ENV) or None
        app = create_app(serving_root(Path(home).resolve()), token=token)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.returncode = None
        self.stdout = io.StringIO("(in-process server: its errors are in the test's log)")

    def poll(self):
        return None if self.thread.is_alive() else 0

    def terminate(self) -> None:
        self.server.should_exit = True

    def wait(self, timeout: float | None = None) -> int:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise subprocess.TimeoutExpired("in-process server", timeout)
        return 0

    kill = terminate


@contextlib.contextmanager
def running_server(
    home: Path,
    *extra: str,
    env: dict | None = None,
    wait_ready: bool = True,
) -> Iterator[httpx.Client]:
    port = free_port()
    if os.environ.get(IN_PROCESS_ENV) == "in-process":
        process = _ThreadServer(home, port, extra, env)
    else:
        process = subprocess.Popen(
            [sys.executable, "-m", "shop_pipeline.cli", "serve", "--home", str(home), "--port", str(port), *extra],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
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
