"""The chat-completions client against a real local server: what it sends, how it fails."""

import logging
import time

import pytest

from bot_engine import turn_deadline
from bot_engine.llm import LLMClient, LLMConfigError, LLMError
from bot_engine.llm import client as client_module
from bot_engine.llm.config import resolve_deployments
from tests.engine.llm.conftest import API_KEY_VARIABLE, local_model, model_group_endpoints
from tests.raw_http import misbehaving_server
from tests.services import free_port

HELLO = [{"role": "user", "content": "hello"}]


def test_request_carries_model_messages_settings_and_key_from_the_environment(llm_server, api_key):
    llm_server.answer("hi there")
    client = LLMClient.from_config(
        {"model_group": "local"}, model_group_endpoints(llm_server, temperature=0.2, max_tokens=50)
    )

    assert client.complete(HELLO) == "hi there"

    (request,) = llm_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {api_key}"
    assert request["body"] == {
        "model": "test-model",
        "messages": HELLO,
        "temperature": 0.2,
        "max_tokens": 50,
    }


def test_component_defaults_fill_only_what_the_config_leaves_out(llm_server, api_key):
    llm_server.answer("ok", "ok")
    defaults = {"temperature": 0.0, "max_tokens": 256}
    LLMClient.from_config(local_model(llm_server), {}, defaults).complete(HELLO)
    LLMClient.from_config(local_model(llm_server, temperature=0.9), {}, defaults).complete(HELLO)

    first, second = (r["body"] for r in llm_server.requests)
    assert (first["temperature"], first["max_tokens"]) == (0.0, 256)
    assert second["temperature"] == 0.9


def test_no_key_header_is_sent_when_the_config_names_no_key(llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak-to-a-self-hosted-server")
    llm_server.answer("ok")
    config = {"provider": "self-hosted", "model": "llama", "api_base": llm_server.url}

    LLMClient.from_config(config, {}).complete(HELLO)

    assert "authorization" not in llm_server.requests[0]["headers"]
    assert "api-key" not in llm_server.requests[0]["headers"]


def test_a_key_written_into_yaml_is_refused_without_repeating_it(llm_server):
    config = {**local_model(llm_server), "api_key": "sk-pasted-real-key"}

    with pytest.raises(LLMConfigError) as error:
        LLMClient.from_config(config, {})

    assert "sk-pasted-real-key" not in str(error.value)
    assert "environment variable" in str(error.value)


def test_a_named_key_variable_that_is_not_set_is_a_load_time_error(llm_server, monkeypatch):
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)
    with pytest.raises(LLMConfigError, match=API_KEY_VARIABLE):
        LLMClient.from_config(local_model(llm_server), {})


def test_openai_without_a_key_in_the_environment_is_a_load_time_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        LLMClient.from_config({"provider": "openai", "model": "gpt-4o"}, {})


def test_an_unknown_model_group_names_the_component_and_the_group():
    with pytest.raises(LLMConfigError, match=r"nlg\.llm\.model_group: 'missing'"):
        LLMClient.from_config({"model_group": "missing"}, {"model_groups": []}, where="nlg.llm")


def test_non_openai_providers_need_an_openai_compatible_base_url():
    with pytest.raises(LLMConfigError, match="not OpenAI-compatible"):
        LLMClient.from_config({"provider": "anthropic", "model": "claude"}, {})


def test_environment_references_in_settings_are_expanded(llm_server, api_key, monkeypatch):
    monkeypatch.setenv("LLM_BASE", llm_server.url)
    llm_server.answer("ok")
    config = {**local_model(llm_server), "api_base": "${LLM_BASE}"}

    assert LLMClient.from_config(config, {}).complete(HELLO) == "ok"


def test_azure_deployments_use_their_url_and_api_key_header(llm_server, monkeypatch):
    monkeypatch.setenv("AZURE_API_KEY", "azure-secret")
    llm_server.answer("ok")
    config = {
        "provider": "azure",
        "deployment": "rasa-gpt",
        "api_base": llm_server.url,
        "api_version": "2024-06-01",
        "max_retries": 0,
    }

    LLMClient.from_config(config, {}).complete(HELLO)

    (request,) = llm_server.requests
    path = "/v1/openai/deployments/rasa-gpt/chat/completions?api-version=2024-06-01"
    assert request["path"] == path
    assert request["headers"]["api-key"] == "azure-secret"
    assert "authorization" not in request["headers"]


def test_older_rasa_key_names_are_understood(llm_server, api_key):
    llm_server.answer("ok")
    config = {
        "type": "openai",
        "model_name": "old-style",
        "openai_api_base": llm_server.url,
        "api_key": "${" + API_KEY_VARIABLE + "}",
        "request_timeout": 3,
    }
    (deployment,) = resolve_deployments(config, {})
    assert deployment.timeout == 3.0

    LLMClient([deployment]).complete(HELLO)
    assert llm_server.requests[0]["body"]["model"] == "old-style"


def test_http_error_is_an_llm_error_naming_the_status(llm_server, api_key):
    llm_server.fail(500, "model overloaded")
    client = LLMClient.from_config(local_model(llm_server), {})

    with pytest.raises(LLMError, match=r"HTTP 500: model overloaded"):
        client.complete(HELLO)


def test_server_errors_are_retried_until_an_answer_comes(llm_server, api_key, monkeypatch):
    monkeypatch.setattr("bot_engine.llm.client.RETRY_BACKOFF_SECONDS", 0.01)
    llm_server.fail(503).fail(429).answer("third time lucky")
    client = LLMClient.from_config(local_model(llm_server, max_retries=2), {})

    assert client.complete(HELLO) == "third time lucky"
    assert len(llm_server.requests) == 3


def test_client_errors_are_not_retried(llm_server, api_key):
    llm_server.fail(400, "bad request").answer("never sent")
    client = LLMClient.from_config(local_model(llm_server, max_retries=3), {})

    with pytest.raises(LLMError, match="HTTP 400"):
        client.complete(HELLO)
    assert len(llm_server.requests) == 1


def test_a_slow_server_times_out(llm_server, api_key):
    llm_server.hang(2.0)
    client = LLMClient.from_config(local_model(llm_server, timeout=0.3), {})

    started = time.monotonic()
    with pytest.raises(LLMError, match="did not answer within 0.3 s"):
        client.complete(HELLO)
    assert time.monotonic() - started < 1.5


def test_a_call_waits_no_longer_than_the_turn_has_left(llm_server, api_key):
    """The deployment allows 5 s; the turn's deadline is 0.4 s away: the call gives up then."""
    llm_server.hang(3.0)
    client = LLMClient.from_config(local_model(llm_server, timeout=5), {})

    started = time.monotonic()
    with turn_deadline.until(started + 0.4), pytest.raises(LLMError, match="turn's deadline"):
        client.complete(HELLO)
    assert 0.3 < time.monotonic() - started < 1.5


def test_at_the_turn_deadline_no_retry_and_no_other_deployment_is_tried(
    llm_server, api_key, monkeypatch
):
    """A 503 would be retried after a 5 s back-off, and another deployment tried after that:
    with 2 s left of the turn, neither happens."""
    monkeypatch.setattr(client_module, "RETRY_BACKOFF_SECONDS", 5.0)
    llm_server.fail(503, "busy").fail(503, "busy").answer("too late")
    endpoints = {
        "model_groups": [
            {"id": "local", "models": [local_model(llm_server, max_retries=3)] * 2},
        ]
    }
    client = LLMClient.from_config({"model_group": "local"}, endpoints)

    started = time.monotonic()
    with turn_deadline.until(started + 2), pytest.raises(LLMError, match="no time left.*503"):
        client.complete(HELLO)
    assert time.monotonic() - started < 2  # not even the back-off was waited for
    assert len(llm_server.requests) == 1


def test_no_call_is_made_once_the_turn_deadline_has_passed(llm_server, api_key):
    llm_server.answer("never sent")
    client = LLMClient.from_config(local_model(llm_server), {})

    with turn_deadline.until(time.monotonic() - 1), pytest.raises(LLMError, match="no time left"):
        client.complete(HELLO)
    assert llm_server.requests == []


def test_a_refused_connection_is_an_llm_error(api_key):
    config = {
        "provider": "self-hosted",
        "model": "m",
        "api_base": f"http://127.0.0.1:{free_port()}/v1",
        "max_retries": 0,
    }
    with pytest.raises(LLMError, match="unreachable"):
        LLMClient.from_config(config, {}).complete(HELLO)


@pytest.mark.parametrize(
    "body",
    [b"<html>gateway</html>", b"[1, 2]", b'{"choices": []}', b'{"choices": [{"message": {}}]}'],
    ids=["not json", "not an object", "no choices", "no content"],
)
def test_malformed_replies_are_llm_errors(llm_server, api_key, body):
    llm_server.raw(body)
    with pytest.raises(LLMError):
        LLMClient.from_config(local_model(llm_server), {}).complete(HELLO)


class _InOrder:
    def shuffle(self, items):
        pass


def test_a_model_group_fails_over_to_its_next_deployment(llm_server, api_key):
    llm_server.answer("from the live deployment")
    dead = {**local_model(llm_server), "api_base": f"http://127.0.0.1:{free_port()}/v1"}
    endpoints = {"model_groups": [{"id": "g", "models": [dead, local_model(llm_server)]}]}
    deployments = resolve_deployments({"model_group": "g"}, endpoints)
    assert [d.url for d in deployments][1] == llm_server.url + "/chat/completions"

    client = LLMClient(deployments, rng=_InOrder())

    assert client.complete(HELLO) == "from the live deployment"
    assert len(llm_server.requests) == 1


def test_the_key_never_reaches_the_logs(llm_server, api_key, caplog):
    caplog.set_level(logging.DEBUG)
    # A server that echoes the key back in its error message.
    llm_server.fail(401, f"Incorrect API key provided: {api_key}")
    client = LLMClient.from_config(local_model(llm_server), {})

    with pytest.raises(LLMError) as error:
        client.complete(HELLO)

    assert api_key not in str(error.value)
    assert "HTTP 401" in caplog.text
    assert api_key not in caplog.text
    assert api_key not in repr(client.deployments)


def test_extra_headers_are_sent_and_their_secrets_kept_out_of_logs(llm_server, monkeypatch, caplog):
    monkeypatch.setenv("GATEWAY_TOKEN", "gw-token-987654321")
    llm_server.answer("ok").fail(403, "token gw-token-987654321 is not allowed")
    config = {
        "provider": "self-hosted",
        "model": "m",
        "api_base": llm_server.url,
        "headers": {"X-Gateway-Token": "${GATEWAY_TOKEN}"},
        "max_retries": 0,
    }
    client = LLMClient.from_config(config, {})

    client.complete(HELLO)
    with caplog.at_level(logging.WARNING), pytest.raises(LLMError, match="HTTP 403"):
        client.complete(HELLO)

    assert llm_server.requests[0]["headers"]["x-gateway-token"] == "gw-token-987654321"
    assert "gw-token-987654321" not in caplog.text
    assert "gw-token-987654321" not in repr(client.deployments)


def test_a_server_trickling_its_reply_times_out_at_the_timeout(api_key):
    url, stop = misbehaving_server(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{", 20)
    config = {"provider": "self-hosted", "model": "m", "api_base": url, "timeout": 0.5}
    started = time.monotonic()
    try:
        with pytest.raises(LLMError, match="did not answer within 0.5 s"):
            LLMClient.from_config({**config, "max_retries": 0}, {}).complete(HELLO)
    finally:
        stop.set()
    assert time.monotonic() - started < 5
