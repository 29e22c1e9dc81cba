"""A real local HTTP server speaking the OpenAI chat-completions API, with scripted answers.

Tests script what the "LLM" answers (`server.answer("StartFlow(x)")`, `server.fail(500)`,
`server.hang(1.0)`, `server.raw(b"not json")`) and read back every request it received.
Nothing here talks to a real LLM service.
"""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

API_KEY_VARIABLE = "HANDOFF_TEST_LLM_KEY"
API_KEY = "sk-test-0123456789-secret"


class FakeChatCompletions:
    def __init__(self):
        self.requests: list[dict] = []
        self._script: deque = deque()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def answer(self, *texts: str) -> "FakeChatCompletions":
        for text in texts:
            self._script.append(("text", text))
        return self

    def fail(self, status: int, message: str = "scripted failure") -> "FakeChatCompletions":
        self._script.append(("fail", (status, message)))
        return self

    def hang(self, seconds: float) -> "FakeChatCompletions":
        self._script.append(("hang", seconds))
        return self

    def raw(self, body: bytes, status: int = 200) -> "FakeChatCompletions":
        self._script.append(("raw", (status, body)))
        return self

    def prompts(self) -> list[str]:
        """The content of the (single) user message of every request, in order."""
        return [r["body"]["messages"][-1]["content"] for r in self.requests]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                kind, value = server._script.popleft() if server._script else ("fail", (599, ""))
                if kind == "hang":
                    time.sleep(value)
                    kind, value = "text", "too late"
                if kind == "text":
                    self._send(200, _completion(body.get("model"), value))
                elif kind == "fail":
                    status, message = value
                    self._send(status, json.dumps({"error": {"message": message}}).encode())
                else:
                    self._send(*value)

            def _send(self, status: int, payload: bytes):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


def _completion(model: str | None, text: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


@pytest.fixture
def llm_server():
    with FakeChatCompletions() as server:
        yield server


@pytest.fixture
def api_key(monkeypatch) -> str:
    monkeypatch.setenv(API_KEY_VARIABLE, API_KEY)
    return API_KEY


def local_model(server: FakeChatCompletions, **settings) -> dict:
    """An inline `llm:` model config pointing at the fake server, key from the environment."""
    return {
        "provider": "openai",
        "model": "test-model",
        "api_base": server.url,
        "api_key": "${" + API_KEY_VARIABLE + "}",
        "timeout": 2,
        "max_retries": 0,
        **settings,
    }


def model_group_endpoints(server: FakeChatCompletions, **settings) -> dict:
    """endpoints.yml content declaring model group `local` on the fake server."""
    return {"model_groups": [{"id": "local", "models": [local_model(server, **settings)]}]}
