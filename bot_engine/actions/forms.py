"""Forms: a loop that asks for each required slot until all are filled."""

from bot_engine.actions.base import ActionContext, ActionRejected
from bot_engine.dialogue import events


class FormAction:
    def __init__(self, name: str, required_slots: list[str]):
        self.name = name
        self.required_slots = required_slots

    def run(self, context: ActionContext) -> list[dict]:
        tracker = context.tracker
        result: list[dict] = []
        activating = tracker.active_loop.get("name") != self.name
        if activating:
            result.append(events.active_loop(self.name))
        requested = tracker.slots.get("requested_slot")
        if not activating and requested and tracker.slots.get(requested) is None:
            # The user's answer did not fill the slot we asked for: let other rules handle it.
            raise ActionRejected(f"Form '{self.name}' could not fill '{requested}'.")
        missing = [s for s in self.required_slots if tracker.slots.get(s) is None]
        if missing:
            slot = missing[0]
            result.append(events.slot("requested_slot", slot))
            ask = f"action_ask_{slot}"
            if ask in context.assistant.domain.actions:
                result += context.assistant.run_named(ask, context)
            else:
                result += context.utter(f"utter_ask_{self.name}_{slot}") or context.utter(
                    f"utter_ask_{slot}"
                )
            return result
        return result + [events.active_loop(None), events.slot("requested_slot", None)]
