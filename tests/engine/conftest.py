"""Engine fixtures: the demo assistant, small fixture projects, and a real rasa_sdk server."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot_engine import Assistant
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
ACTIONS_PYTHON = ROOT / ".venv-actions" / "bin" / "python"


class Chat:
    """One conversation with an assistant, turn by turn, as the hub would drive it."""

    def __init__(self, assistant: Assistant, sender_id: str = "tester"):
        self.assistant = assistant
        self.sender_id = sender_id
        self.state = None
        self.last = None

    def say(self, text: str, **kwargs):
        self.last = self.assistant.handle(self.state, text, sender_id=self.sender_id, **kwargs)
        self.state = self.last.tracker_state
        return self.last

    def texts(self) -> list[str]:
        return [m.get("text") for m in self.last.messages]

    def actions(self) -> list[str]:
        return [
            e["name"]
            for e in self.last.events
            if e["event"] == "action" and e["name"] not in {"action_listen", "action_session_start"}
        ]

    def tracker(self):
        return self.assistant.new_tracker(self.sender_id, self.state)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def demo(model_dir) -> Assistant:
    return Assistant.load(ROOT / "demo_assistant", model_dir=model_dir)


@pytest.fixture
def chat(demo) -> Chat:
    return Chat(demo)


@pytest.fixture(scope="session")
def action_server():
    """A real rasa_sdk action server (in its own venv) serving fixtures/sdk_actions."""
    if not ACTIONS_PYTHON.exists():
        pytest.fail(".venv-actions is missing: run `make actions-venv` (make test does)")
    port = free_port()
    process = subprocess.Popen(
        [str(ACTIONS_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=FIXTURES / "sdk_actions",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(FIXTURES / "sdk_actions")},
        start_new_session=True,  # sanic forks workers: stop the whole group afterwards
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        _stop_group(process)
        pytest.fail("the rasa_sdk action server did not start")
    yield url
    _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)  # workers that ignored SIGTERM
    process.wait(5)


def copy_project(name: str, destination: Path, endpoints: str | None = None) -> Path:
    target = destination / name
    shutil.copytree(FIXTURES / name, target)
    if endpoints is not None:
        (target / "endpoints.yml").write_text(endpoints)
    return target


class RecordingProxy:
    """A real HTTP hop in front of the action server that records what crossed it."""

    def __init__(self, target: str):
        import http.server
        import threading

        self.target = target
        self.exchanges: list[dict] = []  # {"action", "sent_domain", "status"}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = urllib.request.Request(proxy.target + self.path, data=body, method="POST")
                request.add_header("Content-Type", "application/json")
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                sent = json.loads(body)
                proxy.exchanges.append(
                    {
                        "action": sent.get("next_action"),
                        "sent_domain": "domain" in sent,
                        "digest": sent.get("domain_digest"),
                        "status": status,
                    }
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recording_proxy(action_server):
    proxy = RecordingProxy(action_server)
    yield proxy
    proxy.close()
