"""The browser test's fixtures: `dagster dev` serving a small prepared shop, and headless Chromium.

The browser is Debian's `chromium` (installed by scripts/ensure_chromium.sh), driven by
Playwright for Python; Playwright never downloads a browser of its own. Without chromium or
Playwright the browser test fails in CI (the CI variable is set) and is skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from shop_pipeline.instance import ensure_dagster_home
from shop_pipeline.pipeline_run import run_full_pipeline
from shop_pipeline.settings import HOME_ENV, ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ENV = "SHOP_PIPELINE_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
ARTIFACTS_ENV = "SHOP_PIPELINE_TEST_ARTIFACTS"
# Running as root on a closed network: no sandbox, and none of Chromium's own background
# connections (they are refused here and slow every page down).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
SHOP = GeneratorConfig(events=4_000, days=7, seed=11)
# The stages a 7-day shop can feed; their checks give the UI results to show.
PREPARED_GROUPS = ("ingestion", "staging")
SERVER_START_TIMEOUT_S = 120
SERVER_STOP_TIMEOUT_S = 15


def require(condition: bool, reason: str) -> None:
    """CI must run the browser test, so a missing browser fails there; elsewhere it skips."""
    if condition:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (CI runs the browser test: scripts/ensure_chromium.sh installs chromium)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = os.environ.get(CHROMIUM_ENV, DEFAULT_CHROMIUM)
    require(os.access(path, os.X_OK), f"no Chromium at {path}: run scripts/ensure_chromium.sh or set {CHROMIUM_ENV}")
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots and the server log land here (default test-artifacts/ui, git-ignored)."""
    folder = Path(os.environ.get(ARTIFACTS_ENV) or REPO_ROOT / "test-artifacts") / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # a screenshot of an earlier failure would mislead
        old.unlink()
    return folder


@dataclass
class Shop:
    paths: ShopPaths
    dagster_home: Path
    groups: tuple[str, ...] = ()  # the asset groups the preparing run materialized
    checks: dict[AssetCheckKey, bool] = field(default_factory=dict)  # that run's check results


def generated_shop(root: Path) -> Shop:
    """A generated shop and its Dagster instance, whose SQLite storages exist already."""
    paths = ShopPaths.at(root / "shop").ensure()
    generate_shop(paths.home, SHOP)
    # ensure_dagster_home sets DAGSTER_HOME for the whole process: keep that in here.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        dagster_home = ensure_dagster_home(paths)
    # Opening the instance creates its runs, event-log index and schedule databases. Two processes
    # creating them at once (the server and the preparing run) corrupt alembic's version table.
    with DagsterInstance.from_config(str(dagster_home)):
        pass
    return Shop(paths, dagster_home)


def run_first_stages(shop: Shop) -> None:
    """Materialize the prepared groups in-process, in the instance the UI serves."""
    with DagsterInstance.from_config(str(shop.dagster_home)) as instance:
        outcome = run_full_pipeline(shop.paths, instance, groups=list(PREPARED_GROUPS))
    assert outcome.success, outcome.error
    shop.groups = PREPARED_GROUPS
    for name, passed in outcome.checks:
        asset, _, check = name.rpartition(":")
        shop.checks[AssetCheckKey(AssetKey.from_user_string(asset), check)] = passed


# Straight to 127.0.0.1, whatever proxy the environment names.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class DagsterUI:
    url: str
    log: Path
    shop: Shop
    location: str = ""  # the code location's name, once loaded

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with LOCAL.open(request, timeout=30) as response:
            body = json.load(response)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


LOCATIONS = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A shell that starts jobs in the background leaves SIGINT ignored, and dagster maps SIGTERM onto
# SIGINT's handler: the server would ignore both and outlive the test. This prelude restores both
# defaults, then execs the real command in the same process (no preexec_fn: unsafe with threads).
RESTORE_SIGNALS_THEN_EXEC = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.signal(signal.SIGTERM, signal.SIG_DFL); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)
WITH_DEFAULT_SIGNALS = [sys.executable, "-c", RESTORE_SIGNALS_THEN_EXEC]


def start_dagster_dev(ui: DagsterUI, port: int) -> subprocess.Popen:
    """`dagster dev` from the repo root, as the README runs it, in a process group of its own."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(ui.shop.dagster_home),
        HOME_ENV: str(ui.shop.paths.home),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "GX_ANALYTICS_ENABLED": "false",
    }
    with ui.log.open("wb") as log:
        return subprocess.Popen(
            [*WITH_DEFAULT_SIGNALS, "-m", "dagster", "dev", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(process: subprocess.Popen) -> None:
    """Let dagster dev stop its webserver and daemon, then the rest of its group; kill what stays."""
    deadline = time.monotonic() + SERVER_STOP_TIMEOUT_S
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # dagster dev shuts its children down in order
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    if group_alive(process.pid):
        os.killpg(process.pid, signal.SIGTERM)  # code servers and run workers left behind
    while group_alive(process.pid) and time.monotonic() < deadline:
        process.poll()  # reap the leader, so that only live children keep the group alive
        time.sleep(0.2)
    if group_alive(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_until_loaded(ui: DagsterUI, process: subprocess.Popen) -> str:
    """Wait for the webserver and its code location; return the location's name."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with code {process.returncode}:\n{ui.log_tail()}", pytrace=False)
        try:
            entries = ui.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            entries = []
        loaded = [e["locationOrLoadError"] for e in entries if e["loadStatus"] == "LOADED"]
        for error in [x for x in loaded if x and x["__typename"] == "PythonError"]:
            pytest.fail(f"the UI could not load the definitions: {error['message']}", pytrace=False)
        if entries and len(loaded) == len(entries) and all(loaded):
            assert len(entries) == 1, f"one code location expected, the UI serves {[e['name'] for e in entries]}"
            return entries[0]["name"]
        if time.monotonic() > deadline:
            late = f"dagster dev did not serve the definitions within {SERVER_START_TIMEOUT_S} s"
            pytest.fail(f"{late}:\n{ui.log_tail()}", pytrace=False)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def dagster_ui(chromium_executable, artifacts_dir, tmp_path_factory):
    """`dagster dev` on 127.0.0.1 and a free port, serving a generated shop whose first stages ran."""
    port = free_port()
    shop = generated_shop(tmp_path_factory.mktemp("ui"))
    ui = DagsterUI(url=f"http://127.0.0.1:{port}", log=artifacts_dir / "dagster-dev.log", shop=shop)
    process = start_dagster_dev(ui, port)
    try:
        run_first_stages(shop)  # while the server starts: both take seconds
        ui.location = wait_until_loaded(ui, process)
        yield ui
    finally:
        stop_process_group(process)


@pytest.fixture(scope="module")
def browser(chromium_executable):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None, "Playwright for Python is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def page(request, browser, dagster_ui, artifacts_dir):
    """A fresh browser page on the UI; a failing test leaves a screenshot of where it stopped."""
    context = browser.new_context(viewport=VIEWPORT, base_url=dagster_ui.url)
    # The first visit shows a "Join the Dagster community" dialog over the page. Mark it seen
    # (the UI's own localStorage flag) and, should the flag change, dismiss it like a user would.
    context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"), lambda _: page.get_by_role("button", name="Skip").click()
    )
    try:
        yield page
    finally:
        report = request.node.stash.get(REPORTS, {}).get("call")
        if report is not None and report.failed:
            from playwright.sync_api import Error

            try:
                page.screenshot(path=artifacts_dir / f"FAILED-{request.node.name}.png")
            except Error as error:  # a crashed page has no picture; the failure itself still reports
                print(f"no screenshot of the failure: {error}")
        context.close()
