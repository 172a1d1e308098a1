"""Real services for the scale-out tests (issue 22), one of each per test session, stopped at its end:

- `spark_cluster`: a standalone Spark cluster on 127.0.0.1, a master and two workers (1 core,
  1 GiB each), every one its own JVM started from the pyspark package's jars with Spark's own
  launch classes (org.apache.spark.deploy.master.Master / worker.Worker). It yields a
  `SparkCluster`: the master URL, the master's JSON status, and for the fault tests
  `kill_worker` / `start_worker` / `ensure_workers` (a killed worker's executors die with it: each
  worker is the leader of its own process group), `pause_worker` / `resume_worker` (SIGSTOP /
  SIGCONT, to freeze a task in flight), `worker_ports` (to tie a driver's view of an executor,
  `running_tasks`, to a worker) and `remove_worker` (a worker a test added for a driver of its own).
- `cluster_spark`: a Spark session of this process on that cluster (engine/spark_session.py),
  with one executor per worker, shared by the tests that run jobs.
- `spark_connect_server`: a Spark Connect server (Spark's SparkConnectServer from the same jars,
  local[1]) on a free port of 127.0.0.1: the way in to a managed cluster; yields its sc:// URL.
- `postgres_server`: a PostgreSQL 15 server initialised in a temporary folder, listening on
  127.0.0.1 at a free port (its unix socket in that folder), with a `dagster` database; yields
  its URL. As root (CI) the server runs as the `postgres` user (PostgreSQL refuses root).

Nothing is mocked. A fixture skips, saying why, only when java or initdb is missing;
scripts/ensure_services.sh (run by scripts/test.sh) installs both.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
DAEMON_HEAP = "-Xmx256m"  # the master and worker daemons: the executors get their own JVMs
WORKER_MEMORY = "1g"  # what a worker offers its executors
EXECUTOR_MEMORY = "512m"
START_TIMEOUT = 180.0  # seconds: JVMs start slowly on a busy 2-core machine
# Spark's launcher gives its JVMs these on Java 17 (JavaModuleOptions); the daemons need them too.
JAVA_MODULE_OPTIONS = [
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
    "-Djdk.reflect.useDirectMethodHandle=false",
    "-Dio.netty.tryReflectionSetAccessible=true",
]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home) / "bin" / "java", os.X_OK):
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL program: on PATH, else Debian's newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]), reverse=True
    )
    return candidates[0] if candidates else None


def spark_home() -> Path:
    """The pyspark package: its jars/ are a Spark distribution's."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def scala_version(home: Path) -> str:
    """The Scala version of the jars (spark-core_2.13-4.x.jar: 2.13)."""
    [core] = (home / "jars").glob("spark-core_*.jar")
    return core.name.split("_", 1)[1].split("-", 1)[0]


def _stop_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a process started as the leader of its own group, and everything it started."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError):  # children that outlived their leader too
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)


def _group_alive(pgid: int, wait: float = 10.0) -> bool:
    """Whether any process of the group is still there after `wait` seconds (reaped ones are not)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------ Spark


@dataclass
class SparkWorker:
    index: int
    port: int
    webui_port: int
    work_dir: Path
    log: Path
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass
class SparkCluster:
    """A running standalone cluster: the master and its workers, each a JVM of its own."""

    root: Path
    java: str
    master_port: int
    master_webui_port: int
    master_process: subprocess.Popen | None = None
    workers: list[SparkWorker] = field(default_factory=list)
    startup_seconds: float = 0.0
    # worker i (and the executors and Python workers it starts, which inherit it) runs on CPU
    # worker_cpus[i] only: a worker of one core is then a one-core machine, whose JVM's garbage
    # collector and compiler threads cannot borrow another core (scale_out.py's measurements)
    worker_cpus: list[int] | None = None

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.master_webui_port}"

    # -------------------------------------------------------------- processes

    def _jvm(
        self, main_class: str, args: list[str], log: Path, heap: str = DAEMON_HEAP, cpu: int | None = None
    ) -> subprocess.Popen:
        home = spark_home()
        env = {
            **os.environ,
            "SPARK_HOME": str(home),  # a worker builds its executors' class path from $SPARK_HOME/jars
            "SPARK_SCALA_VERSION": scala_version(home),  # as bin/load-spark-env.sh sets it
            "SPARK_LOCAL_IP": HOST,
            "SPARK_LOCAL_DIRS": str(self.root / "local"),
            "PYSPARK_PYTHON": sys.executable,
        }
        command = [self.java, heap, *JAVA_MODULE_OPTIONS, "-cp", f"{home / 'jars'}/*", main_class, *args]
        with log.open("ab") as out:
            # its own process group: stopping it (or killing it) reaches the executors it started
            return subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=None if cpu is None else functools.partial(os.sched_setaffinity, 0, {cpu}),
            )

    def start_master(self) -> None:
        self.master_process = self._jvm(
            "org.apache.spark.deploy.master.Master",
            ["--host", HOST, "--port", str(self.master_port), "--webui-port", str(self.master_webui_port)],
            self.root / "master.log",
        )

    def start_worker(self, index: int, wait: bool = True) -> SparkWorker:
        """Start worker `index` (again, on fresh ports, after a kill) and wait until it is registered."""
        worker = SparkWorker(
            index,
            free_port(),
            free_port(),
            self.root / f"worker-{index}",
            self.root / f"worker-{index}.log",
        )
        worker.work_dir.mkdir(parents=True, exist_ok=True)
        worker.process = self._jvm(
            "org.apache.spark.deploy.worker.Worker",
            [
                self.master_url,
                "--host",
                HOST,
                "--port",
                str(worker.port),
                "--webui-port",
                str(worker.webui_port),
                "--cores",
                "1",
                "--memory",
                WORKER_MEMORY,
                "--work-dir",
                str(worker.work_dir),
            ],
            worker.log,
            cpu=None if self.worker_cpus is None else self.worker_cpus[index % len(self.worker_cpus)],
        )
        while len(self.workers) <= index:
            self.workers.append(worker)
        self.workers[index] = worker
        if wait:
            self.wait_for_workers({worker.address})
        return worker

    def kill_worker(self, index: int = 1) -> SparkWorker:
        """SIGKILL worker `index` and the executors it started (a machine lost), and wait until
        the master has dropped it."""
        worker = self.workers[index]
        assert worker.process is not None and worker.process.poll() is None, f"worker {index} is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(30)
        deadline = time.monotonic() + START_TIMEOUT
        while worker.address in self.alive_worker_addresses():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the master still lists worker {worker.address} as alive")
            time.sleep(0.2)
        return worker

    def remove_worker(self, index: int) -> None:
        """Stop the last worker, `index`, with its executors, and forget it: a worker a test added
        for a driver of another process (the session's driver holds the first workers' cores)."""
        if index != len(self.workers) - 1:
            raise ValueError(f"only the last worker can be removed, not {index}")
        worker = self.workers.pop()
        if worker.process is not None:
            _stop_group(worker.process)

    def pause_worker(self, index: int) -> None:
        """SIGSTOP worker `index` and its executors: a task running there can neither finish nor
        report (the fault tests freeze a task in flight before they kill its machine)."""
        os.killpg(self.workers[index].process.pid, signal.SIGSTOP)

    def resume_worker(self, index: int) -> None:
        os.killpg(self.workers[index].process.pid, signal.SIGCONT)

    def worker_ports(self, index: int) -> set[int]:
        """Every TCP port worker `index` and the executors it started listen on (their block managers
        among them): how a driver's view of an executor is tied to a worker."""
        return _listening_ports(_group_members(self.workers[index].process.pid))

    def ensure_workers(self) -> None:
        """Every worker running (a test that killed one leaves the next one whole)."""
        for worker in list(self.workers):
            if worker.process is None or worker.process.poll() is not None:
                self.start_worker(worker.index)

    def stop(self) -> None:
        """Stop every JVM (workers with their executors, then the master) and make sure none is left."""
        for worker in self.workers:
            if worker.process is not None:
                _stop_group(worker.process)
        if self.master_process is not None:
            _stop_group(self.master_process)
        left = [p.pid for p in self.processes() if _group_alive(p.pid)]
        if left:
            raise RuntimeError(f"Spark processes outlived the cluster (process groups {left})")

    def processes(self) -> list[subprocess.Popen]:
        return [p for p in [self.master_process, *(w.process for w in self.workers)] if p is not None]

    # -------------------------------------------------------------- the master's view

    def status(self) -> dict:
        """The master's JSON status: workers (id, host, port, state, cores, coresused), apps."""
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=5) as response:
            return json.load(response)

    def alive_workers(self) -> list[dict]:
        try:
            return [w for w in self.status()["workers"] if w["state"] == "ALIVE"]
        except (OSError, ValueError, KeyError):  # not up yet: the UI answers HTML while it starts
            return []

    def alive_worker_addresses(self) -> set[str]:
        return {f"{w['host']}:{w['port']}" for w in self.alive_workers()}

    def worker_status(self, index: int) -> dict:
        """Worker `index`'s own JSON status (its executors)."""
        url = f"http://{HOST}:{self.workers[index].webui_port}/json/"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    def wait_for_workers(self, addresses: set[str]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not addresses <= self.alive_worker_addresses():
            for process, log in [(self.master_process, self.root / "master.log")] + [
                (w.process, w.log) for w in self.workers
            ]:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"a Spark JVM exited with {process.returncode}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"workers {sorted(addresses)} did not register with {self.master_url} in {START_TIMEOUT:.0f} s:\n"
                    + _tail(self.root / "master.log")
                )
            time.sleep(0.2)


def start_cluster(root: Path, workers: int = 2, pin_workers: bool = False) -> SparkCluster:
    """A master and `workers` workers on 127.0.0.1, every worker registered when it returns;
    `pin_workers` runs worker i on CPU i only (modulo this process's CPUs). The caller stops it
    (`cluster.stop()`), also when this raises: it stops what it started."""
    java = java_binary()
    if java is None:
        raise FileNotFoundError("java")
    root.mkdir(parents=True, exist_ok=True)
    (root / "local").mkdir(exist_ok=True)
    started = time.monotonic()
    cluster = SparkCluster(root, java, free_port(), free_port())
    if pin_workers:
        cluster.worker_cpus = sorted(os.sched_getaffinity(0))
    try:
        cluster.start_master()
        for index in range(workers):  # all JVMs start at once; then wait for every one
            cluster.start_worker(index, wait=False)
        cluster.wait_for_workers({w.address for w in cluster.workers})
    except BaseException:
        cluster.stop()
        raise
    cluster.startup_seconds = time.monotonic() - started
    return cluster


def wait_for_executors(session, count: int, timeout: float = 120.0) -> None:
    """Until the application of `session` has `count` executors (beside the driver)."""
    deadline = time.monotonic() + timeout
    while len(session.sparkContext.statusTracker().getExecutorInfos()) - 1 < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} executors after {timeout:.0f} s")
        time.sleep(0.2)


def running_tasks(session, ports: set[int]) -> int:
    """The tasks the driver of `session` counts in flight on the executors listening on `ports` (its
    own view, from Spark's status tracker, which names an executor by its block manager's port)."""
    return sum(
        info.numRunningTasks for info in session.sparkContext.statusTracker().getExecutorInfos() if info.port in ports
    )


def _listening_ports(pids: set[int]) -> set[int]:
    """The TCP ports the processes `pids` listen on (Linux /proc)."""
    sockets = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        sockets.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in sockets:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _group_members(pgid: int) -> set[int]:
    members = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[2]) == pgid:
                    members.add(int(entry))
    return members


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory):
    """A standalone Spark cluster (master + 2 workers, 1 core / 1 GiB each) on 127.0.0.1."""
    if java_binary() is None:
        pytest.skip("no java on this machine (scripts/ensure_services.sh installs openjdk-17-jre-headless)")
    cluster = start_cluster(tmp_path_factory.mktemp("spark_cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


def cluster_session_conf(cluster: SparkCluster) -> dict[str, str]:
    """A driver in this process with one small executor on each worker, waiting for both."""
    return {
        "spark.driver.host": HOST,
        "spark.driver.bindAddress": HOST,
        "spark.driver.memory": "512m",
        "spark.executor.memory": EXECUTOR_MEMORY,
        "spark.executor.cores": "1",
        "spark.cores.max": str(len(cluster.workers)),
        # the first job waits (up to a minute) until every executor has registered
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "60s",
        "spark.local.dir": str(cluster.root / "local"),
    }


@pytest.fixture(scope="session")
def _cluster_driver(spark_cluster):
    """The settings of this process's driver on the test cluster; the driver is stopped (before
    the cluster) at the end of the session."""
    from shop_pipeline.engine.settings import SPARK, EngineSettings
    from shop_pipeline.engine.spark_session import stop_session

    settings = EngineSettings(kind=SPARK, spark_master=spark_cluster.master_url, spark_ui=False)
    try:
        yield settings, cluster_session_conf(spark_cluster)
    finally:
        stop_session()


@pytest.fixture(scope="session")
def spark(_cluster_driver):
    """The one Spark session every test of the process uses: a driver on the test cluster (two
    workers, so work really spreads). One session, because PySpark allows one driver per process;
    a test that switches the shared session away (another master) restores it with cluster_spark."""
    from shop_pipeline.engine.spark_session import shared_session

    return shared_session(*_cluster_driver)


@pytest.fixture
def cluster_spark(_cluster_driver):
    """This process's Spark session on the test cluster: the process's shared session
    (engine/spark_session.py), opened once and reopened only if a test in between switched the
    shared session to another master."""
    from shop_pipeline.engine.spark_session import shared_session

    return shared_session(*_cluster_driver)


@dataclass
class ConnectServer:
    """A Spark Connect server (the driver of its own local[1] application) on 127.0.0.1."""

    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"sc://{HOST}:{self.port}"


def start_connect_server(root: Path) -> ConnectServer:
    """Spark's own SparkConnectServer class from the pyspark jars, as sbin/start-connect-server.sh
    starts it, in local[1] mode (the cluster's cores belong to the cluster tests); returns once
    its port accepts connections. The caller stops it (`_stop_group(server.process)`)."""
    java = java_binary()
    if java is None:
        raise FileNotFoundError("java")
    root.mkdir(parents=True, exist_ok=True)
    home = spark_home()
    port = free_port()
    log = root / "connect.log"
    command = [
        java,
        "-Xmx512m",
        *JAVA_MODULE_OPTIONS,
        "-Duser.timezone=UTC",
        "-cp",
        f"{home / 'jars'}/*",
        "org.apache.spark.deploy.SparkSubmit",
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master",
        "local[1]",
        "--conf",
        f"spark.connect.grpc.binding.address={HOST}",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        f"spark.driver.host={HOST}",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.local.dir={root}",
        "spark-internal",
    ]
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_SCALA_VERSION": scala_version(home),
        "SPARK_LOCAL_IP": HOST,
        "PYSPARK_PYTHON": sys.executable,  # the server's Python UDFs (mapInPandas) run this interpreter
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    server = ConnectServer(port, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the Spark Connect server exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return server
        if time.monotonic() > deadline:
            _stop_group(process)
            raise TimeoutError(f"the Spark Connect server did not listen in {START_TIMEOUT:.0f} s:\n{_tail(log)}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def spark_connect_server(tmp_path_factory):
    """A Spark Connect server on 127.0.0.1 for the session: yields its `ConnectServer` (`.url`)."""
    if java_binary() is None:
        pytest.skip("no java on this machine (scripts/ensure_services.sh installs openjdk-17-jre-headless)")
    server = start_connect_server(tmp_path_factory.mktemp("spark_connect"))
    try:
        yield server
    finally:
        _stop_group(server.process)


# ------------------------------------------------------------------ PostgreSQL


@dataclass
class PostgresServer:
    root: Path
    port: int
    user: str = "postgres"
    database: str = "dagster"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{HOST}:{self.port}/{self.database}"

    @property
    def data(self) -> Path:
        return self.root / "data"


def _as_postgres_user() -> dict:
    """subprocess arguments that run a PostgreSQL program as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return {"user": entry.pw_uid, "group": entry.pw_gid}
    raise RuntimeError("running as root and there is no postgres or nobody user to run PostgreSQL as")


def start_postgres(root: Path) -> PostgresServer:
    """initdb in `root`, start on a free port of 127.0.0.1 (socket in `root`), create the database.
    The caller stops it (`stop_postgres`)."""
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise FileNotFoundError("initdb")
    server = PostgresServer(root, free_port())
    as_user = _as_postgres_user()
    root.mkdir(parents=True, exist_ok=True)
    if as_user:
        os.chown(root, as_user["user"], as_user["group"])
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(
        [initdb, "-D", str(server.data), "-U", server.user, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        env=env,
        **as_user,
    )
    options = (
        f"-p {server.port} -k {root} -c listen_addresses={HOST} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB"
    )
    subprocess.run(
        [pg_ctl, "-D", str(server.data), "-l", str(root / "postgres.log"), "-o", options, "-w", "-t", "120", "start"],
        check=True,
        capture_output=True,
        env=env,
        **as_user,
    )
    import psycopg2

    connection = psycopg2.connect(host=HOST, port=server.port, user=server.user, dbname="postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {server.database}")
    finally:
        connection.close()
    return server


def stop_postgres(server: PostgresServer) -> None:
    pg_ctl = postgres_bin("pg_ctl")
    if pg_ctl and (server.data / "postmaster.pid").exists():
        subprocess.run(
            [pg_ctl, "-D", str(server.data), "stop", "-m", "fast", "-w"],
            check=False,
            capture_output=True,
            **_as_postgres_user(),
        )


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on 127.0.0.1 for the session: yields its `PostgresServer` (`.url`)."""
    if postgres_bin("initdb") is None or postgres_bin("pg_ctl") is None:
        pytest.skip("no PostgreSQL server programs (initdb) here (scripts/ensure_services.sh installs postgresql-15)")
    # not under pytest's tmp folder: as root that one is private, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="shop_pg_"))
    server = None
    try:
        server = start_postgres(root)
        yield server
    finally:
        if server is not None:
            stop_postgres(server)
        else:  # initdb or start failed half-way: stop whatever started
            stop_postgres(PostgresServer(root, 0))
        shutil.rmtree(root, ignore_errors=True)
