"""`action_run_slot_rejections` (§11.5): check a collected value before the flow goes on."""

from bot_engine.actions.base import ActionContext
from bot_engine.dialogue import events as ev
from bot_engine.flows import stack as st
from bot_engine.flows.predicates import evaluate, render_jinja
from bot_engine.slot_values import typed_value

TYPE_REJECTIONS = {
    "bool": "utter_boolean_slot_rejection",
    "float": "utter_float_slot_rejection",
    "categorical": "utter_categorical_slot_rejection",
}


def violated_rejection(slot, value, rejections: list[dict]) -> str | None:
    """The response of the first rejection a value breaks (None: the value is fine)."""
    typed = typed_value(slot, value)
    if typed is None:
        return TYPE_REJECTIONS.get(slot.type)
    document = {"slots": {slot.name: typed}}
    for rejection in rejections:
        try:
            condition = render_jinja(str(rejection["if"]), document)
        except Exception:  # noqa: BLE001 - a broken template counts as a violation (Rasa)
            return "utter_internal_error_rasa"
        if evaluate(condition, document):
            return rejection["utter"]
    return None


class ActionRunSlotRejections:
    name = "action_run_slot_rejections"

    def run(self, context: ActionContext) -> list[dict]:
        tracker = context.tracker
        top = tracker.stack[-1] if tracker.stack else {}
        if top.get("type") != st.COLLECT:
            return []
        slot = tracker.domain.slots.get(top.get("collect"))
        if slot is None or not tracker.slot_was_ever_set(slot.name):
            return []
        value = tracker.slots.get(slot.name)
        if value is None:
            return []
        response = violated_rejection(slot, value, top.get("rejections") or [])
        if response is not None:
            return [ev.slot(slot.name, None), *context.utter(response, value=value)]
        typed = typed_value(slot, value)
        if typed != value or type(typed) is not type(value):
            return [ev.slot(slot.name, typed)]
        return []
