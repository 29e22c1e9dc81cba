"""A small client for OpenAI-compatible chat-completions endpoints (bot_engine.bounded_http).

    client = LLMClient.from_config({"model_group": "gpt"}, endpoints)
    text = client.complete([{"role": "user", "content": prompt}])   # or raises LLMError

The deployments of a model group are tried in a random order (spreading the load, like
LiteLLM's default "simple-shuffle"); each one is retried on connection errors, 429 and 5xx
answers. Keys are read from the environment per request and never logged.
"""

import json
import logging
import random
import time
import urllib.parse

from bot_engine import bounded_http, turn_deadline
from bot_engine.actions import outside_effects
from bot_engine.llm.config import Deployment, resolve_deployments

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 2_000_000
RETRY_BACKOFF_SECONDS = 0.25
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


class LLMError(Exception):
    """The LLM gave no usable answer: HTTP error, timeout, unreachable, or a malformed reply."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class OutOfTurnTime(LLMError):
    """The turn's deadline came (bot_engine.turn_deadline): no other deployment is tried."""


class LLMClient:
    """Sends chat-completion requests to one or more equivalent deployments."""

    def __init__(self, deployments: list[Deployment], rng: random.Random | None = None):
        if not deployments:
            raise ValueError("an LLM client needs at least one deployment")
        self.deployments = list(deployments)
        self._rng = rng or random.Random()

    @classmethod
    def from_config(
        cls,
        llm_block: dict | None,
        endpoints: dict | None,
        defaults: dict | None = None,
        where: str = "llm",
    ) -> "LLMClient":
        """A client for a component's `llm:` block (inline model or `model_group` reference)."""
        return cls(resolve_deployments(llm_block, endpoints, defaults, where))

    def complete(
        self,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> str:
        """The text of the first choice; raises LLMError when no deployment answers usefully."""
        outside_effects.about_to_call("an LLM call")
        order = list(self.deployments)
        self._rng.shuffle(order)
        failure: LLMError | None = None
        for deployment in order:
            try:
                return self._complete_with(deployment, messages, temperature, max_tokens)
            except OutOfTurnTime:
                raise
            except LLMError as error:
                failure = error
        assert failure is not None
        raise failure

    def _complete_with(self, deployment, messages, temperature, max_tokens) -> str:
        body = {"model": deployment.model, "messages": messages, **deployment.parameters}
        temperature = temperature if temperature is not None else deployment.temperature
        max_tokens = max_tokens if max_tokens is not None else deployment.max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        for attempt in range(deployment.max_retries + 1):
            try:
                return _first_choice_text(_post(deployment, body))
            except LLMError as error:
                logger.warning("LLM request failed (attempt %d): %s", attempt + 1, error)
                if not error.retryable or attempt == deployment.max_retries:
                    raise
                pause = RETRY_BACKOFF_SECONDS * (2**attempt)
                if _time_left(pause, "a retry") < pause:  # it would start too late
                    too_late = f"no time left of the turn to retry after: {error}"
                    raise OutOfTurnTime(too_late) from error
                time.sleep(pause)
        raise AssertionError("unreachable")


def _time_left(seconds: float, what: str) -> float:
    """`seconds`, or what is left of the turn's time if that is less."""
    try:
        return turn_deadline.capped(seconds)
    except turn_deadline.DeadlinePassed:
        raise OutOfTurnTime(f"no time left of the turn for {what}") from None


def _post(deployment: Deployment, body: dict) -> dict:
    key = deployment.api_key()
    headers = {"Content-Type": "application/json", **deployment.headers}
    if key:
        bearer = deployment.key_header == "Authorization"
        headers[deployment.key_header] = f"Bearer {key}" if bearer else key
    where = _safe_url(deployment.url)
    timeout = _time_left(deployment.timeout, where)  # no call waits past the turn's deadline
    try:
        answer = bounded_http.post(
            deployment.url,
            json.dumps(body).encode(),
            headers,
            timeout,
            max_bytes=MAX_RESPONSE_BYTES + 1,
        )
    except bounded_http.CallFailed as failure:
        if failure.kind == bounded_http.TIMED_OUT:
            if timeout < deployment.timeout:
                raise OutOfTurnTime(f"{where} did not answer by the turn's deadline") from None
            raise LLMError(f"{where} did not answer within {timeout:g} s") from None
        retryable = failure.kind in (bounded_http.UNREACHABLE, bounded_http.BROKEN_REPLY)
        raise LLMError(f"{where} {failure.kind}: {failure.detail}", retryable=retryable) from None
    if answer.status >= 300:
        detail = _redact(_error_detail(answer.body), [key, *deployment.headers.values()])
        raise LLMError(
            f"{where} answered HTTP {answer.status}{': ' + detail if detail else ''}",
            retryable=answer.status in _RETRYABLE_STATUS,
        )
    payload = answer.body
    if len(payload) > MAX_RESPONSE_BYTES:
        raise LLMError(f"{where} sent more than {MAX_RESPONSE_BYTES} bytes")
    try:
        reply = json.loads(payload)
    except ValueError:
        raise LLMError(f"{where} sent a reply that is not JSON") from None
    if not isinstance(reply, dict):
        raise LLMError(f"{where} sent a JSON reply that is not an object")
    return reply


def _first_choice_text(reply: dict) -> str:
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMError("the reply has no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if content is None and isinstance(choices[0].get("text"), str):
        content = choices[0]["text"]  # some servers answer in the legacy completions shape
    if not isinstance(content, str):
        raise LLMError("the reply's first choice has no text content")
    return content


def _error_detail(body: bytes) -> str:
    raw = body[:4096]
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:200]
    inner = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(inner, dict):
        inner = inner.get("message")
    return str(inner or "")[:200]


def _redact(text: str, secrets: list) -> str:
    for secret in secrets:
        if secret and len(str(secret)) >= 8:  # short values (e.g. "json") are no secrets
            text = text.replace(str(secret), "***")
    return text


def _safe_url(url: str) -> str:
    """The URL without credentials or query string, for log lines."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
