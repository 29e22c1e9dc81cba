"""What every hub benchmark shares: servers in subprocesses, the load client in another,
the machine's description, and small SVG charts.

The server under test and the load client never share a process (or a GIL). The echo server
(bench/echo_app.py) runs under the same worker, client and machine in the same run, so a hub
figure is also reported as a ratio of it.
"""

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.services import Daphne, Nginx, Postgres, Redis, hub_env, manage  # noqa: E402
from handoff_hub.upload_limit import request_body_bytes  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_before": load_average(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


class Hub:
    """A running hub deployment for a benchmark: URL of each process and of the proxy."""

    def __init__(self, processes: list[Daphne], proxy: Nginx | None, env: dict):
        self.processes = processes
        self.proxy = proxy
        self.env = env

    def ws_url(self, index: int | None = None) -> str:
        base = self.proxy.url if (self.proxy and index is None) else self.processes[index or 0].url
        return base.replace("http://", "ws://") + "/ws/chat/"

    def http_url(self, index: int | None = None) -> str:
        return self.proxy.url if (self.proxy and index is None) else self.processes[index or 0].url


@contextlib.contextmanager
def hub(
    profile: str = "postgres", workers: int = 1, proxy: bool = False, engine_processes: int = 1
) -> Iterator[Hub]:
    """The hub on `sqlite` (+ in-memory layer, one process) or `postgres` (+ Redis); each hub
    process with `engine_processes` engine processes (0: bot turns in its own threads)."""
    workdir = tempfile.mkdtemp(prefix="hub-bench-")
    postgres = redis = None
    processes: list[Daphne] = []
    try:
        if profile == "sqlite":
            env = hub_env(f"sqlite:///{workdir}/hub.sqlite3", None)
        else:
            postgres, redis = Postgres(durable=True), Redis()
            postgres.start()
            postgres.prime_wal()  # measure a database in steady state, not a fresh one
            redis.start()
            env = hub_env(postgres.create_database("hub"), redis.url)
        env["STATIC_ROOT"] = os.path.join(workdir, "static")
        env["HUB_ENGINE_PROCESSES"] = str(engine_processes)
        log(f"[{profile}] migrating a fresh database")
        manage(env, "migrate", "--noinput", "-v", "0")
        processes = [Daphne(env, log_dir=workdir) for _ in range(workers)]
        for process in processes:
            process.start(wait=False)
        for process in processes:
            process.wait_healthy()
        if proxy:
            manage(env, "collectstatic", "--noinput", "-v", "0")
        with _nginx_if(proxy, processes, env, env["STATIC_ROOT"], workdir) as nginx:
            log(
                f"[{profile}] {workers} hub process(es) ready, {engine_processes} engine"
                " process(es) each" + (" behind nginx" if proxy else "")
            )
            yield Hub(processes, nginx, env)
    finally:
        for process in processes:
            process.stop()
        if redis:
            redis.cleanup()
        if postgres:
            postgres.cleanup()


@contextlib.contextmanager
def echo(workers: int = 1, proxy: bool = False) -> Iterator[Hub]:
    """The bare Channels echo consumer under the same worker (and proxy, if asked)."""
    workdir = tempfile.mkdtemp(prefix="hub-echo-")
    env = hub_env(f"sqlite:///{workdir}/echo.sqlite3", None)
    processes = [
        Daphne(env, log_dir=workdir, app="bench.echo_app:application") for _ in range(workers)
    ]
    try:
        for process in processes:
            process.start()
        with _nginx_if(proxy, processes, env, workdir, workdir) as nginx:
            yield Hub(processes, nginx, env)
    finally:
        for process in processes:
            process.stop()


@contextlib.contextmanager
def _nginx_if(wanted: bool, processes: list[Daphne], env: dict, static_root: str, workdir: str):
    """nginx in front of `processes` while the block runs, if `wanted` (else None)."""
    if not wanted:
        yield None
        return
    os.chmod(workdir, 0o755)  # nginx's workers (`nobody` as root) read the static files
    nginx = Nginx([p.port for p in processes], static_root, max_body_bytes=request_body_bytes(env))
    try:
        nginx.start()
        yield nginx
    finally:
        nginx.cleanup()


def run_load(url: str, **options) -> dict:
    """Run bench/load_client.py in its own process; its progress lines pass through."""
    command = [sys.executable, "-m", "bench.load_client", "--url", url]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            command.append(flag)
        elif value is not None and value is not False:  # 0 is a value (--turns-per-chat 0)
            command += [flag, str(value)]
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"load client failed ({result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (from /proc, no extra dependency)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    log(f"results written to {path.relative_to(ROOT)}")
    return path


def wait_quiet(max_load: float = 1.5, timeout: float = 60) -> str:
    """Give the shared machine a moment to calm down before measuring; report its load."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return load_average()


def percentile_ms(seconds: list[float], fraction: float) -> float:
    ordered = sorted(seconds)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return round(ordered[index] * 1000, 3)


def django_shell(env: dict, code: str):
    """Run Django code against a benchmark's hub database; returns its last line as JSON."""
    output = manage(env, "shell", "-c", code)
    return json.loads(output.strip().splitlines()[-1])


AGENT_SESSION = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from handoff_hub.models import AgentProfile
from handoff_hub.transitions import default_queue
user, _ = get_user_model().objects.get_or_create(username="bench-agent")
profile, _ = AgentProfile.objects.get_or_create(user=user, defaults={"display_name": "Bench"})
profile.queues.add(default_queue())
browser = Client()  # a real login session, as the console's cookie
browser.force_login(user)
print(json.dumps(browser.cookies["sessionid"].value))
"""


def agent_session(env: dict) -> str:
    """A logged-in agent of the default queue (its session key, for the console socket)."""
    return django_shell(env, AGENT_SESSION)
