"""What every action gets and gives: a context in, a list of Rasa events out."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot_engine.dialogue import events

if TYPE_CHECKING:
    from bot_engine.assistant import Assistant
    from bot_engine.dialogue.tracker import Tracker


class ActionRejected(Exception):
    """The action declined to run (e.g. a form that could not fill its slot)."""


class ActionFailed(Exception):
    """The action could not run (action server down, error in custom code)."""


@dataclass
class ActionContext:
    tracker: "Tracker"
    assistant: "Assistant"
    channel: str = "web"
    # Set by actions that hand the conversation to a human: {"reason": ..., **detail}.
    handoff: dict | None = None
    extra: dict = field(default_factory=dict)

    def utter(self, response: str, **variables) -> list[dict]:
        """Bot events for a domain response (nothing if the assistant has no such response)."""
        message = self.assistant.render_response(response, self.tracker, self.channel, variables)
        if message is None:
            return []
        return [events.bot(message.pop("text"), _rich(message), message.pop("metadata", {}))]


def with_events(context: ActionContext, extra_events: list[dict]) -> ActionContext:
    """The context seen through a temporary tracker that has `extra_events` on top.

    Rasa runs validation and ask actions on such a tracker: what the loop decided so far is
    visible to them, but nothing is logged until the loop returns its events.
    """
    from bot_engine.dialogue.tracker import Tracker

    tracker = context.tracker
    temporary = Tracker(tracker.sender_id, tracker.domain, [*tracker.events, *extra_events])
    return ActionContext(
        temporary, context.assistant, context.channel, context.handoff, context.extra
    )


def _rich(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "metadata"}


class Action(Protocol):
    name: str

    def run(self, context: ActionContext) -> list[dict]: ...
