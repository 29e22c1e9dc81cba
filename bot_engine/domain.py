"""The assistant's domain: intents, entities, slots, responses, actions, forms, sessions."""

import hashlib
import json
from dataclasses import dataclass, field

# Actions every assistant has, whether or not the domain lists them.
DEFAULT_ACTIONS = (
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_revert_fallback_events",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_two_stage_fallback",
    "action_unlikely_intent",
    "action_back",
    "action_send_text",
    "action_extract_slots",
    "action_human_handoff",
)
# The default actions of flow-based (CALM) assistants.
CALM_DEFAULT_ACTIONS = (
    "action_cancel_flow",
    "action_correct_flow_slot",
    "action_clarify_flows",
    "action_run_slot_rejections",
    "action_clean_stack",
    "action_trigger_search",
    "action_trigger_chitchat",
    "action_hangup",
    "action_repeat_bot_messages",
)
DEFAULT_INTENTS = ("restart", "back", "out_of_scope", "session_start", "nlu_fallback")
SLOT_TYPES = ("text", "bool", "float", "categorical", "list", "any")


@dataclass
class Intent:
    name: str
    use_entities: bool | list[str] = True
    ignore_entities: list[str] = field(default_factory=list)

    def keeps_entity(self, entity: str) -> bool:
        if entity in self.ignore_entities:
            return False
        if isinstance(self.use_entities, list):
            return entity in self.use_entities
        return bool(self.use_entities)


@dataclass
class Slot:
    name: str
    type: str
    initial_value: object = None
    influence_conversation: bool = True
    values: list = field(default_factory=list)  # categorical
    min_value: float = 0.0
    max_value: float = 1.0
    mappings: list[dict] = field(default_factory=list)

    def coerce(self, value):
        """The value as this slot stores it (Rasa's coercion for categorical/list/float/bool)."""
        if value is None:
            return None
        if self.type == "list" and not isinstance(value, list):
            return [value]
        if self.type == "float":
            try:
                return float(value)
            except (TypeError, ValueError):
                return value
        if self.type == "bool" and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in {"true", "yes", "1"}:
                return True
            if lowered in {"false", "no", "0"}:
                return False
        if self.type == "categorical" and isinstance(value, str):
            for allowed in self.values:
                if isinstance(allowed, str) and allowed.casefold() == value.casefold():
                    return allowed
        return value

    def feature(self, value):
        """What a rule sees of this slot: presence/value for categorical & bool, set for others."""
        if value is None:
            return None
        if self.type in {"categorical", "bool"}:
            return value
        return True


@dataclass
class Domain:
    intents: dict[str, Intent] = field(default_factory=dict)
    entities: list[str] = field(default_factory=list)
    entity_roles: dict[str, list[str]] = field(default_factory=dict)
    entity_groups: dict[str, list[str]] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    responses: dict[str, list[dict]] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    forms: dict[str, dict] = field(default_factory=dict)
    session_expiration_minutes: float = 60
    carry_over_slots: bool = True
    raw: dict = field(default_factory=dict)
    # Added for flow-based assistants: default intents and actions (`flow_<id>` included).
    builtin_intents: set[str] = field(default_factory=set)
    builtin_actions: set[str] = field(default_factory=set)
    # Custom actions declared `{name: {send_domain: true}}`: their requests always carry the domain.
    actions_sending_domain: set[str] = field(default_factory=set)
    _digest: str | None = field(default=None, repr=False, compare=False)

    @property
    def action_names(self) -> set[str]:
        return (
            set(DEFAULT_ACTIONS)
            | set(self.actions)
            | set(self.responses)
            | set(self.forms)
            | self.builtin_actions
        )

    @property
    def intent_names(self) -> set[str]:
        return set(self.intents) | set(DEFAULT_INTENTS) | self.builtin_intents

    def intent(self, name: str) -> Intent:
        return self.intents.get(name) or Intent(name)

    def initial_slots(self) -> dict:
        return {name: slot.initial_value for name, slot in self.slots.items()}

    def digest(self) -> str:
        """A fingerprint of `as_rasa_dict()` (action servers cache the domain under it)."""
        if self._digest is None:
            encoded = json.dumps(self.as_rasa_dict(), sort_keys=True, default=str).encode()
            self._digest = hashlib.sha256(encoded).hexdigest()
        return self._digest

    def as_rasa_dict(self) -> dict:
        """The merged domain in Rasa's shape (sent to action servers)."""
        return {
            "version": "3.1",
            "intents": [
                {i.name: {"use_entities": i.use_entities, "ignore_entities": i.ignore_entities}}
                for i in self.intents.values()
            ],
            "entities": list(self.entities),
            "slots": {
                s.name: {
                    "type": s.type,
                    "initial_value": s.initial_value,
                    "influence_conversation": s.influence_conversation,
                    "mappings": s.mappings,
                    **({"values": s.values} if s.type == "categorical" else {}),
                }
                for s in self.slots.values()
            },
            "responses": self.responses,
            "actions": list(self.actions),
            "forms": self.forms,
            "session_config": {
                "session_expiration_time": self.session_expiration_minutes,
                "carry_over_slots_to_new_session": self.carry_over_slots,
            },
        }
