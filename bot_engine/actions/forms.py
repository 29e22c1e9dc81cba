"""Forms: a loop that asks for each required slot until all are filled, as Rasa's FormAction.

Each run (rasa-spec §6.2's loop shape): activate if needed (validating slots filled before),
validate what the user's message set, ask for the next empty slot, and deactivate when none is
left. Validation is the project's `validate_<form>` action when the domain lists it — usually a
rasa_sdk `FormValidationAction` on the action server, which also extracts custom slots and may
change which slot comes next by setting `requested_slot` — otherwise the candidates are kept.
"""

from bot_engine.actions.base import ActionContext, ActionRejected, with_events
from bot_engine.dialogue import events

REQUESTED_SLOT = "requested_slot"


class FormAction:
    def __init__(self, name: str, required_slots: list[str]):
        self.name = name
        self.required_slots = required_slots

    def run(self, context: ActionContext) -> list[dict]:
        tracker = context.tracker
        result: list[dict] = []
        if tracker.active_loop.get("name") != self.name:
            result.append(events.active_loop(self.name))
            prefilled = self._prefilled(context)
            if prefilled:
                result += self._validate(context, prefilled, result)
        elif tracker.latest_action == "action_listen" and not tracker.active_loop.get(
            "is_interrupted"
        ):
            result += self._validate_user_input(context)
        else:  # back from an unhappy path: nothing new to validate, but the validator decides
            result += self._validate(context, [], result)
        if not _is_done(result):
            result += self._request_next_slot(context, result)
        if _is_done(result):
            result += [events.active_loop(None), events.slot(REQUESTED_SLOT, None)]
        return result

    def _prefilled(self, context: ActionContext) -> list[dict]:
        slots = context.tracker.slots
        return [events.slot(s, slots[s]) for s in self.required_slots if slots.get(s) is not None]

    def _validate_user_input(self, context: ActionContext) -> list[dict]:
        """Validate the slots set since the user spoke; reject if nothing came of the answer."""
        candidates = _slot_events_since_user(context.tracker)
        validated = self._validate(context, candidates, [])
        filled_something = any(
            e.get("event") == "slot" and e.get("name") != REQUESTED_SLOT for e in validated
        )
        requested = context.tracker.slots.get(REQUESTED_SLOT)
        if requested and not filled_something:
            # The answer filled nothing: let the rules handle it (an unhappy path).
            raise ActionRejected(f"Failed to extract slot {requested} with action {self.name}")
        return validated

    def _validate(self, context: ActionContext, candidates: list[dict], so_far) -> list[dict]:
        validator = f"validate_{self.name}"
        if validator not in context.assistant.domain.actions:
            return candidates
        # The validator sees the candidates as the newest events (rasa_sdk's slots_to_validate).
        temporary = with_events(context, [*so_far, *candidates])
        returned = context.assistant.run_named(validator, temporary)
        replaced = {e.get("name") for e in returned if e.get("event") == "slot"}
        return returned + [e for e in candidates if e.get("name") not in replaced]

    def _request_next_slot(self, context: ActionContext, so_far: list[dict]) -> list[dict]:
        chosen = [e for e in so_far if e.get("event") == "slot" and e.get("name") == REQUESTED_SLOT]
        temporary = with_events(context, so_far)
        result: list[dict] = []
        if chosen and chosen[-1].get("value"):
            slot = chosen[-1]["value"]  # the validator chose the next slot
        else:
            slots = temporary.tracker.slots
            slot = next((s for s in self.required_slots if slots.get(s) is None), None)
            result.append(events.slot(REQUESTED_SLOT, slot))
        if slot is None:
            return result
        return result + self._ask_for(slot, with_events(context, [*so_far, *result]))

    def _ask_for(self, slot: str, context: ActionContext) -> list[dict]:
        domain = context.assistant.domain
        for action in (f"action_ask_{self.name}_{slot}", f"action_ask_{slot}"):
            if action in domain.actions:
                return context.assistant.run_named(action, context)
        return context.utter(f"utter_ask_{self.name}_{slot}") or context.utter(f"utter_ask_{slot}")


def _is_done(produced: list[dict]) -> bool:
    """Done when the newest `requested_slot` is set to None or the loop was deactivated."""
    if any(e.get("event") == "action_execution_rejected" for e in produced):
        return False
    for event in reversed(produced):
        if event.get("event") == "active_loop":
            if event.get("name") is None:
                return True
            break
    for event in reversed(produced):
        if event.get("event") == "slot" and event.get("name") == REQUESTED_SLOT:
            return event.get("value") is None
    return False


def _slot_events_since_user(tracker) -> list[dict]:
    found: list[dict] = []
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            break
        if event.get("event") == "slot" and event.get("name") != REQUESTED_SLOT:
            found.append(event)
    return list(reversed(found))
