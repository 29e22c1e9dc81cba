"""Where an LLM lives: the `llm:` blocks and `model_groups` of a Rasa Pro project, resolved.

A component (a command generator in config.yml, the rephraser under `nlg:` in endpoints.yml)
either describes its model inline (`llm: {provider, model, api_base, ...}`) or points at a model
group (`llm: {model_group: id}`) declared in endpoints.yml. Either way the result is a list of
`Deployment`s, tried in turn by the client. API keys are never read from YAML: the config names
an environment variable and the key is read from the environment for each request.
"""

import os
import re
import urllib.parse
from dataclasses import dataclass, field

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 1
# Providers that speak the chat-completions API at `api_base` as it is.
OPENAI_COMPATIBLE = {"openai", "self-hosted", "self_hosted", "vllm", "ollama", "openai-compatible"}
# Default key variables; other providers send a key only when the config names one.
DEFAULT_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "azure": "AZURE_API_KEY"}
# Optional request parameters passed through to the API when a model config sets them.
PASSTHROUGH_PARAMETERS = ("top_p", "stop", "seed", "frequency_penalty", "presence_penalty")
_ENV_REFERENCE = re.compile(r"\$\{([^}]+)\}")
_ONLY_ENV_REFERENCE = re.compile(r"^\s*\$\{([A-Za-z_][A-Za-z0-9_]*)\}\s*$")


class LLMConfigError(ValueError):
    """An LLM configuration that cannot work; the message says which key and how to fix it."""


@dataclass(frozen=True)
class Deployment:
    """One model behind an OpenAI-compatible chat-completions endpoint."""

    url: str  # the full chat-completions URL
    model: str
    provider: str = "openai"
    api_key_env: str | None = None  # the variable holding the key, never the key itself
    key_header: str = "Authorization"  # "api-key" for Azure
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    headers: dict = field(default_factory=dict, repr=False)  # may hold secrets from ${VAR}
    parameters: dict = field(default_factory=dict)

    def api_key(self) -> str | None:
        """The key from the environment, read at request time so rotation needs no reload."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


def resolve_deployments(
    llm_block: dict | None, endpoints: dict | None, defaults: dict | None = None, where: str = "llm"
) -> list[Deployment]:
    """The deployments a component's `llm:` block stands for (a model group or one inline model).

    `defaults` fills keys the config leaves out (e.g. the component's usual temperature).
    Raises LLMConfigError naming `where` and the key when the configuration cannot work.
    """
    block = dict(llm_block or {})
    if block.get("model_group") is not None:
        group_id = str(block["model_group"])
        models = _model_group(endpoints or {}, group_id, where)
        return [
            _deployment({**(defaults or {}), **model}, f"model_groups.{group_id}.models[{i}]")
            for i, model in enumerate(models)
        ]
    return [_deployment({**(defaults or {}), **block}, where)]


def _model_group(endpoints: dict, group_id: str, where: str) -> list[dict]:
    groups = endpoints.get("model_groups") or []
    if not isinstance(groups, list):
        raise LLMConfigError("endpoints.yml: model_groups must be a list of {id, models}")
    for group in groups:
        if isinstance(group, dict) and str(group.get("id")) == group_id:
            models = group.get("models")
            if not isinstance(models, list) or not models:
                raise LLMConfigError(
                    f"endpoints.yml: model_groups '{group_id}' needs a non-empty 'models' list"
                )
            if not all(isinstance(m, dict) for m in models):
                raise LLMConfigError(f"endpoints.yml: model_groups '{group_id}' models: mappings")
            return models
    raise LLMConfigError(
        f"{where}.model_group: '{group_id}' is not declared under model_groups in endpoints.yml"
    )


def _deployment(config: dict, where: str) -> Deployment:
    provider = str(config.get("provider") or config.get("type") or "openai").lower()
    model = _text(config, where, "model", "model_name", "deployment", "engine")
    base = _text(config, where, "api_base", "base_url", "openai_api_base")
    if config.get("use_chat_completions_endpoint") is False:
        raise LLMConfigError(
            f"{where}.use_chat_completions_endpoint: only the chat-completions API is supported"
        )
    key_env = _api_key_variable(config, provider, where)
    if key_env and key_env not in os.environ:
        raise LLMConfigError(f"{where}: set the environment variable {key_env} to the API key")
    if provider == "azure":
        url, key_header = _azure_url(config, base, where), "api-key"
    elif provider in OPENAI_COMPATIBLE or base:
        url, key_header = (base or OPENAI_BASE_URL).rstrip("/") + "/chat/completions", None
    else:
        raise LLMConfigError(
            f"{where}.provider: '{provider}' is not OpenAI-compatible; give its OpenAI-compatible "
            "'api_base' (e.g. a LiteLLM proxy) or use provider 'openai' or 'self-hosted'"
        )
    if not model:
        if provider != "openai":
            raise LLMConfigError(f"{where}.model: name the model to use")
        model = "gpt-4o-mini"
    return Deployment(
        url=url,
        model=model,
        provider=provider,
        api_key_env=key_env,
        key_header=key_header or "Authorization",
        temperature=_number(config, where, "temperature", float),
        max_tokens=_number(config, where, "max_tokens", int)
        or _number(config, where, "max_completion_tokens", int),
        timeout=_number(config, where, "timeout", float)
        or _number(config, where, "request_timeout", float)
        or DEFAULT_TIMEOUT,
        max_retries=_retries(config, where),
        headers=_headers(config, where),
        parameters={k: config[k] for k in PASSTHROUGH_PARAMETERS if config.get(k) is not None},
    )


def _azure_url(config: dict, base: str | None, where: str) -> str:
    deployment = _text(config, where, "deployment", "engine") or _text(config, where, "model")
    version = _text(config, where, "api_version") or os.environ.get("AZURE_API_VERSION")
    base = base or os.environ.get("AZURE_API_BASE")
    if not (deployment and version and base):
        raise LLMConfigError(
            f"{where}: provider 'azure' needs 'api_base', 'deployment' and 'api_version'"
        )
    path = f"/openai/deployments/{deployment}/chat/completions"
    return f"{base.rstrip('/')}{path}?{urllib.parse.urlencode({'api-version': version})}"


def _api_key_variable(config: dict, provider: str, where: str) -> str | None:
    if config.get("api_key_env"):
        return str(config["api_key_env"])
    raw = config.get("api_key", config.get("openai_api_key"))
    if raw is None:
        return DEFAULT_KEY_VARIABLES.get(provider)
    match = _ONLY_ENV_REFERENCE.match(str(raw))
    if not match:
        # Never echo the value: it may be a real key pasted into the file.
        raise LLMConfigError(
            f"{where}.api_key: secrets are not read from YAML; put the key in an environment "
            "variable and write api_key: ${MY_LLM_KEY} (or api_key_env: MY_LLM_KEY)"
        )
    return match.group(1)


def _text(config: dict, where: str, *keys: str) -> str | None:
    for key in keys:
        value = config.get(key)
        if value not in (None, ""):
            return expand_environment(str(value), f"{where}.{key}")
    return None


def expand_environment(value: str, where: str) -> str:
    """Replace `${VAR}` by the variable's value, as Rasa does for endpoint settings."""

    def lookup(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise LLMConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REFERENCE.sub(lookup, value)


def _number(config: dict, where: str, key: str, kind: type):
    value = config.get(key)
    if value is None:
        return None
    try:
        return kind(expand_environment(str(value), f"{where}.{key}"))
    except ValueError:
        raise LLMConfigError(f"{where}.{key}: expected a number, got {value!r}") from None


def _retries(config: dict, where: str) -> int:
    for key in ("max_retries", "num_retries"):
        if config.get(key) is not None:
            retries = _number(config, where, key, int)
            if retries < 0:
                raise LLMConfigError(f"{where}.{key}: must be 0 or more")
            return retries
    return DEFAULT_MAX_RETRIES


def _headers(config: dict, where: str) -> dict:
    headers = config.get("extra_headers") or config.get("headers") or {}
    if not isinstance(headers, dict):
        raise LLMConfigError(f"{where}.headers: expected a mapping of header names to values")
    return {str(k): expand_environment(str(v), f"{where}.headers.{k}") for k, v in headers.items()}
