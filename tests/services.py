"""Real PostgreSQL and Redis on loopback, in temporary directories, for the test suite.

    python -m tests.services -- pytest -q      # start both, run the command with
                                               # DATABASE_URL / REDIS_URL set, stop both

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening on port {port} within {timeout} s")


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def _as_service_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Yield a DATABASE_URL for a fresh, throw-away PostgreSQL cluster."""
    bin_dir = _pg_bin()
    root = tempfile.mkdtemp(prefix="hub-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    port = free_port()
    subprocess.run(
        _as_service_user(
            [f"{bin_dir}/initdb", "-D", data, "-U", "hub", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    log = os.path.join(root, "server.log")
    subprocess.run(
        _as_service_user(
            [f"{bin_dir}/pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, "PostgreSQL")
        yield f"postgres://hub@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_service_user([f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running_redis() -> Iterator[str]:
    """Yield a REDIS_URL for a fresh redis-server with no persistence."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    root = tempfile.mkdtemp(prefix="hub-redis-")
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            root,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, "Redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running_services() -> Iterator[dict[str, str]]:
    with running_postgres() as database_url, running_redis() as redis_url:
        yield {"DATABASE_URL": database_url, "REDIS_URL": redis_url}


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: python -m tests.services -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with running_services() as urls:
        print(f"PostgreSQL at {urls['DATABASE_URL']}, Redis at {urls['REDIS_URL']}", flush=True)
        # Worker threads close their connections after each use, so the test database can be
        # dropped at the end.
        env = {**os.environ, **urls, "HUB_TEST_PROFILE": "prod", "DB_CONN_MAX_AGE": "0"}
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
