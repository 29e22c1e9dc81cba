"""Custom actions on a `rasa_sdk` action server, over Rasa's HTTP protocol, unchanged.

The domain travels as Rasa Pro does (rasa-spec §16.1): each request carries the domain's digest
and no domain; a server that does not know the digest answers 449 and gets the same request again
with the domain, which it caches. Actions declared `send_domain: true` always get the domain.
"""

import json

from bot_engine import bounded_http, turn_deadline
from bot_engine.actions import outside_effects
from bot_engine.actions.base import ActionContext, ActionFailed, ActionRejected
from bot_engine.dialogue import events as ev
from bot_engine.dialogue.events import KNOWN_EVENTS

RASA_VERSION = "3.11.20"  # the protocol version we speak; rasa_sdk only warns on mismatch
DOMAIN_REQUESTED = 449


class _DomainRequested(Exception):
    """The action server does not know our domain digest and asks for the domain."""


class RemoteAction:
    def __init__(self, name: str, endpoint: dict):
        self.name = name
        self.url = endpoint["url"]
        self.headers = endpoint.get("headers") or {}
        self.timeout = float(endpoint.get("timeout", 10))
        self.token = endpoint.get("token")

    def run(self, context: ActionContext) -> list[dict]:
        domain = context.assistant.domain
        body = {
            "next_action": self.name,
            "sender_id": context.tracker.sender_id,
            "tracker": context.tracker.current_state(),
            "domain_digest": domain.digest(),
            "version": RASA_VERSION,
        }
        if self.name in domain.actions_sending_domain:
            body["domain"] = domain.as_rasa_dict()
        timeout = self._time_left()  # a turn out of time never calls, nor says it is about to
        outside_effects.about_to_run(self.name)
        try:
            reply = self._post(body, timeout)
        except _DomainRequested:
            reply = self._post({**body, "domain": domain.as_rasa_dict()}, self._time_left())
        result: list[dict] = []
        for response in reply.get("responses") or []:
            result += self._bot_events(response, context)
        for event in reply.get("events") or []:
            if isinstance(event, dict) and event.get("event") in KNOWN_EVENTS:
                event.setdefault("timestamp", None)
                result.append(event)
        return result

    def _post(self, body: dict, timeout: float) -> dict:
        url = self.url
        if self.token:
            url += ("&" if "?" in url else "?") + f"token={self.token}"
        headers = {"Content-Type": "application/json", **self.headers}
        payload = json.dumps(body, default=str).encode()
        # The timeout bounds the whole call, so a server trickling its reply cannot hold the
        # turn (and its chat); no call waits past the turn's deadline (`timeout` is capped).
        try:
            reply = bounded_http.post(url, payload, headers, timeout)
        except bounded_http.CallFailed as failure:
            message = f"action server {failure.kind} for '{self.name}': {failure.detail}"
            if failure.kind == bounded_http.TIMED_OUT and timeout < self.timeout:
                message += " (at the turn's deadline)"
            raise ActionFailed(message) from None
        if reply.status >= 300:
            self._raise_for_error_reply(reply, body)
        answer = _json_or_empty(reply.body)
        if not isinstance(answer, dict):
            raise ActionFailed(f"action server sent an invalid reply for '{self.name}'")
        return answer

    def _time_left(self) -> float:
        """The call's timeout, or what is left of the turn's time if that is less."""
        try:
            return turn_deadline.capped(self.timeout)
        except turn_deadline.DeadlinePassed:
            raise ActionFailed(f"no time left of the turn for '{self.name}'") from None

    def _raise_for_error_reply(self, reply: bounded_http.Reply, body: dict):
        """Raise what an error status means (449: send the domain; 400: the action refused)."""
        detail = _json_or_empty(reply.body)
        if not isinstance(detail, dict):
            detail = {}
        if reply.status == DOMAIN_REQUESTED and "domain" not in body:
            raise _DomainRequested()
        if reply.status == 400 and detail.get("action_name"):
            raise ActionRejected(detail.get("error") or "rejected")
        raise ActionFailed(
            f"action server answered {reply.status} for '{self.name}': {detail.get('error', '')}"
        )

    def _bot_events(self, response: dict, context: ActionContext) -> list[dict]:
        if not isinstance(response, dict):
            return []
        name = response.get("response") or response.get("template")
        extra = {k: v for k, v in response.items() if v not in (None, "", [], {})}
        if name:
            variables = {k: v for k, v in extra.items() if k not in {"response", "template"}}
            rendered = context.assistant.render_response(
                name, context.tracker, context.channel, variables
            )
            if rendered is None:
                return []
            if extra.get("buttons"):
                rendered["buttons"] = (rendered.get("buttons") or []) + extra["buttons"]
            for key in ("text", "image", "custom", "attachment", "elements"):
                if key in extra and key != "buttons":
                    rendered[key] = extra[key]
            metadata = rendered.pop("metadata", {})
            return [ev.bot(rendered.pop("text", None), rendered, metadata)]
        text = extra.pop("text", None)
        data = {k: v for k, v in extra.items() if k not in {"response", "template", "metadata"}}
        return [ev.bot(text, data, {"utter_source": self.name})]


def _json_or_empty(payload: bytes):
    try:
        return json.loads(payload or b"{}")
    except ValueError:
        return {}
