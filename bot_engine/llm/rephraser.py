"""The contextual response rephraser: templated bot messages reworded by an LLM to fit the chat.

Enabled by `nlg: {type: rephrase}` in endpoints.yml. A response variation opts in with
`metadata: {rephrase: True}` (or every response, with `rephrase_all: true`, unless it says
`rephrase: False`), and may bring its own Jinja prompt in `metadata.rephrase_prompt`.
Rephrasing is best effort: whatever goes wrong, the customer gets the original text, and
buttons, images and custom payloads always go out unchanged.
"""

import functools
import logging
from pathlib import Path

from jinja2 import Template

from bot_engine.llm.client import LLMClient, LLMError
from bot_engine.llm.config import LLMConfigError
from bot_engine.llm.prompts import (
    default_template,
    render,
    template_from_file,
    template_from_text,
    transcript,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_HISTORICAL_TURNS = 5
# A little variety is the point of rephrasing; more would drift from the template.
DEFAULT_LLM_SETTINGS = {"temperature": 0.3, "max_tokens": 256}
_TYPES = {"rephrase", "ContextualResponseRephraser"}
_TRUE = {True, "true", "True", "yes"}


class ResponseRephraser:
    """Rewords bot messages marked for rephrasing, keeping everything but their text."""

    def __init__(
        self,
        client: LLMClient,
        template: Template | None = None,
        *,
        rephrase_all: bool = False,
        max_historical_turns: int = DEFAULT_MAX_HISTORICAL_TURNS,
        summarize_history: bool = False,
    ):
        self.client = client
        self.template = template or default_template("rephraser")
        self.rephrase_all = rephrase_all
        self.max_historical_turns = max_historical_turns
        self.summarize_history = summarize_history

    @classmethod
    def from_endpoints(
        cls, endpoints: dict | None, project_root: Path | None = None
    ) -> "ResponseRephraser | None":
        """The rephraser endpoints.yml asks for, or None without `nlg: {type: rephrase}`.

        `nlg` keys: `llm` (inline model or `{model_group: id}`), `prompt` (template file),
        `rephrase_all`, `max_historical_turns`, `summarize_history`. Raises LLMConfigError.
        """
        nlg = (endpoints or {}).get("nlg")
        if not isinstance(nlg, dict) or str(nlg.get("type", "")).rsplit(".", 1)[-1] not in _TYPES:
            return None
        client = LLMClient.from_config(nlg.get("llm"), endpoints, DEFAULT_LLM_SETTINGS, "nlg.llm")
        prompt = nlg.get("prompt") or nlg.get("prompt_template")
        turns = nlg.get("max_historical_turns", DEFAULT_MAX_HISTORICAL_TURNS)
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 0:
            raise LLMConfigError(f"nlg.max_historical_turns: expected 0 or more, got {turns!r}")
        return cls(
            client,
            template_from_file(prompt, project_root) if prompt else None,
            rephrase_all=nlg.get("rephrase_all") in _TRUE,
            max_historical_turns=turns,
            summarize_history=nlg.get("summarize_history") in _TRUE,
        )

    def should_rephrase(self, message: dict) -> bool:
        """Whether this bot message is to be rephrased (it needs text and to be marked)."""
        if not isinstance(message, dict) or not str(message.get("text") or "").strip():
            return False
        flag = response_metadata(message).get("rephrase")
        return flag in _TRUE if flag is not None else self.rephrase_all

    def rephrase(
        self,
        message: dict,
        history: list[dict],
        current_input: str | None = None,
        slots: dict | None = None,
    ) -> dict:
        """The message to send: a copy with reworded text, or `message` itself if unchanged.

        history: the conversation before this message, `{"sender": "user" | "bot", "text"}`.
        current_input: the latest user message (default: the last user entry of `history`).
        A response's `rephrase_prompt` sees `current_input`, `history`, `suggested_response`
        and `slots`. Never raises; on any failure the original message is returned.
        """
        if not self.should_rephrase(message):
            return message
        if current_input is None:
            current_input = _last_user_text(history)
        try:
            variables = {
                "history": self._history(history),
                "current_input": current_input or "",
                "suggested_response": message["text"],
                "slots": dict(slots or {}),
            }
            own_prompt = response_metadata(message).get("rephrase_prompt")
            template = _compiled(str(own_prompt)) if own_prompt else self.template
            prompt = render(template, variables)
            answer = self.client.complete([{"role": "user", "content": prompt}])
        except (LLMError, LLMConfigError) as error:
            logger.warning("rephrasing kept the original text: %s", error)
            return message
        text = _clean_answer(answer)
        if not text:
            return message
        metadata = {**(message.get("metadata") or {}), "rephrased": True}
        return {**message, "text": text, "metadata": metadata}

    def _history(self, history: list[dict]) -> str:
        recent = transcript(history, self.max_historical_turns)
        if not (self.summarize_history and recent):
            return recent
        prompt = render(default_template("summarize_history"), {"conversation": recent})
        try:
            return _clean_answer(self.client.complete([{"role": "user", "content": prompt}]))
        except LLMError as error:
            logger.warning("history summary failed, using the transcript: %s", error)
            return recent


def response_metadata(message: dict) -> dict:
    """The response variation's metadata, whether nested (bot event) or flat (hub message)."""
    outer = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    inner = outer.get("metadata") if isinstance(outer.get("metadata"), dict) else {}
    return {**outer, **inner}


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return template_from_text(source, "rephrase_prompt")


def _last_user_text(history: list[dict]) -> str | None:
    for entry in reversed(history or []):
        if isinstance(entry, dict) and entry.get("sender") == "user":
            return entry.get("text")
    return None


def _clean_answer(answer: str) -> str:
    text = answer.strip()
    # Models like to quote the reply they were asked for.
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return text
