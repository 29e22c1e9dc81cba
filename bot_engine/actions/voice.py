"""Voice-style default actions: repeat what the bot said, hang up (§11.2)."""

from bot_engine.actions.base import ActionContext
from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st


class ActionRepeatBotMessages:
    name = "action_repeat_bot_messages"

    def run(self, context: ActionContext) -> list[dict]:
        stack = context.tracker.stack
        if len(stack) >= 2 and stack[-2].get("type") == st.COLLECT:
            return []  # the question below is asked again anyway
        block: list[dict] = []
        for event in reversed(context.tracker.applied_events()):
            if event.get("event") == "bot":
                block.append(event)
            elif event.get("event") == "user" and block:
                break
        return [ev.bot(e.get("text"), e.get("data"), e.get("metadata")) for e in reversed(block)]


class ActionHangup:
    """End the session; the channel closes the chat (TurnResult.hangup)."""

    name = "action_hangup"

    def run(self, context: ActionContext) -> list[dict]:
        context.extra["hangup"] = True
        return [ev.session_ended({"_reason": "hangup"})]
