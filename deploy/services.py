"""PostgreSQL, Redis, Daphne and nginx as real processes on loopback.

Used by `make serve-prod` (deploy/serve_prod.py), the test suite's prod profile
(tests/services.py), the fault tests and the benchmarks, so every one of them runs the same
production topology. Each server can be stopped and started again on the same port, which is
how the fault tests take PostgreSQL, Redis or one Daphne away mid-run.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
"""

import contextlib
import glob
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NGINX_TEMPLATE = Path(__file__).with_name("nginx.conf.template")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on port {port} within {timeout} s")


def _as_service_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return os.path.dirname(found[-1])


class Postgres:
    """A PostgreSQL cluster of its own. `durable=False` trades crash safety for test speed."""

    def __init__(self, data_dir: str | None = None, durable: bool = True, port: int = 0):
        self.root = data_dir or tempfile.mkdtemp(prefix="hub-pg-")
        self.throwaway = data_dir is None
        self.data = os.path.join(self.root, "data")
        self.durable = durable
        self.port = port or free_port()
        self.bin = _pg_bin()
        self.url = f"postgres://hub@127.0.0.1:{self.port}/postgres"

    def _init(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        if os.path.exists(os.path.join(self.data, "PG_VERSION")):
            return
        subprocess.run(
            _as_service_user(
                [f"{self.bin}/initdb", "-D", self.data, "-U", "hub", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._init()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            _as_service_user(
                [
                    f"{self.bin}/pg_ctl",
                    "-D",
                    self.data,
                    "-o",
                    options,
                    "-l",
                    os.path.join(self.root, "server.log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port, "PostgreSQL")

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_service_user([f"{self.bin}/pg_ctl", "-D", self.data, "-m", mode, "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def prime_wal(self, megabytes: int = 512) -> None:
        """Have WAL segment files ready for reuse, as a database that has run for a while has.

        A fresh cluster makes each 16 MB segment as its WAL reaches it, zero-filled and
        synced, and the COMMIT that needs it waits (57 ms on round 11's host, twice in
        15 s at 500 messages/s). A running database renames old segments for reuse at each
        checkpoint instead (up to min_wal_size), so a benchmark on a fresh cluster would
        measure an event production rarely sees. (`ALTER SYSTEM` persists: for throwaway
        clusters only.)
        """
        import psycopg

        segments = megabytes // 16
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f"ALTER SYSTEM SET min_wal_size = '{megabytes}MB'")
            connection.execute("SELECT pg_reload_conf()")
            connection.execute("CREATE TABLE wal_primer (n int)")
            for _ in range(segments):
                connection.execute("INSERT INTO wal_primer VALUES (1)")  # into a new segment
                connection.execute("SELECT pg_switch_wal()")
            connection.execute("DROP TABLE wal_primer")
            connection.execute("CHECKPOINT")  # the segments behind it are kept for reuse

    def cleanup(self) -> None:
        self.stop("immediate")
        if self.throwaway:
            shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A redis-server with no persistence (the channel layer keeps nothing worth saving)."""

    def __init__(self, port: int = 0):
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.root = tempfile.mkdtemp(prefix="hub-redis-")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.root,
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port, "Redis")

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _terminate(process: subprocess.Popen | None, grace: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class Daphne:
    """One hub process (deploy/hub_worker.py: Daphne with graceful draining) on its own port."""

    def __init__(self, env: dict, port: int = 0, log_dir: str | None = None, app: str = ""):
        self.env = env
        self.port = port or free_port()
        self.log_path = os.path.join(log_dir or tempfile.gettempdir(), f"daphne-{self.port}.log")
        self.app = app
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        command = [sys.executable, "-m", "deploy.hub_worker", "--port", str(self.port)]
        if self.app:
            command += ["--app", self.app]
        log = open(self.log_path, "a")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Daphne on {self.port} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Daphne on {self.port} not healthy in {timeout} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return Path(self.log_path).read_text(errors="replace")[-chars:]
        return ""

    def stop(self, grace: float = 15) -> None:
        """Graceful: SIGTERM lets in-flight messages finish, then closes sockets (1012)."""
        _terminate(self.process, grace)
        self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, nothing finishes."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)
        self.process = None


class Nginx:
    """Debian's nginx in front of the hub processes: WebSockets, static files, health check."""

    def __init__(
        self,
        upstream_ports: list[int],
        static_root: str,
        port: int = 0,
        *,
        max_body_bytes: int,  # on the assistant upload page (handoff_hub.upload_limit)
    ):
        self.port = port or free_port()
        self.max_body_bytes = max_body_bytes
        self.prefix = tempfile.mkdtemp(prefix="hub-nginx-")
        self.static_root = static_root
        self.upstream_ports = upstream_ports
        self.process: subprocess.Popen | None = None
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(self.binary):
            raise RuntimeError("nginx is not installed (apt-get install nginx)")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def render(self) -> str:
        upstreams = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"
            for port in self.upstream_ports
        )
        return (
            NGINX_TEMPLATE.read_text()
            .replace("{{LISTEN}}", f"127.0.0.1:{self.port}")
            .replace("{{UPSTREAMS}}", upstreams)
            .replace("{{STATIC_ROOT}}", self.static_root.rstrip("/") + "/")
            .replace("{{PREFIX}}", self.prefix)
            .replace("{{MAX_BODY}}", str(self.max_body_bytes))
        )

    def start(self) -> None:
        # As root nginx's workers run as `nobody`: they must reach the static files.
        os.chmod(self.prefix, 0o755)
        for folder in ("logs", "tmp"):
            os.makedirs(os.path.join(self.prefix, folder), exist_ok=True)
        config = os.path.join(self.prefix, "nginx.conf")
        Path(config).write_text(self.render())
        command = [self.binary, "-p", self.prefix, "-c", config, "-g", "daemon off;"]
        subprocess.run([*command, "-t", "-q"], check=True)
        self.process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, "nginx")

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.prefix, ignore_errors=True)


def hub_env(database_url: str, redis_url: str | None, **extra: str) -> dict:
    """The environment a hub process needs to join a deployment."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "handoff_hub.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "loopback-deployment-key-not-for-internet-0000"),
        "ALLOWED_HOSTS": os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost"),
        # Keep connections (the test suite's own profile sets 0 to drop its databases).
        "DB_CONN_MAX_AGE": "600",
        # Bot turns in a process of their own beside each hub process (docs/deployment.md).
        "HUB_ENGINE_PROCESSES": os.environ.get("HUB_ENGINE_PROCESSES", "1"),
        **extra,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout
