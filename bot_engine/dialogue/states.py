"""Dialogue states: what rules and stories compare at each point of a conversation.

A state is what the assistant knew just before choosing an action: the latest intent and
entity types, the previous action, slot features and the active loop.
"""

from bot_engine.domain import Domain

START = "__conversation_start__"


def tracker_states(applied: list[dict], domain: Domain) -> list[dict]:
    """One state before every action the conversation ran, plus the current one at the end."""
    return StateHistory().states(applied, 0, domain)


class StateHistory:
    """`tracker_states`, resumed where the last call stopped.

    It keeps the fold's state just before the newest action it saw; the next call starts
    there (that action's state looks ahead, so it is redone) as long as the applied events up
    to that action did not change — a turn then costs its own events, not the whole chat's.
    """

    def __init__(self) -> None:
        self.at = 0  # applied index to resume from
        self.current: dict = {"prev_action": START, "slots": {}}
        self.user_seen = False
        self.done: list[dict] = []  # the states of applied[: self.at] (never mutated)

    def states(self, applied: list[dict], unchanged_below: int, domain: Domain) -> list[dict]:
        """The states of `applied`, whose first `unchanged_below` events are those of the last
        call (pass 0 when unsure)."""
        if self.at and (self.at >= unchanged_below or self.at >= len(applied)):
            self.__init__()
        current = _copy_state(self.current)
        user_seen = self.user_seen
        states = list(self.done)
        checkpoint = (self.at, self.current, self.user_seen, len(states))
        for index in range(self.at, len(applied)):
            event = applied[index]
            kind = event.get("event")
            if kind == "user":
                parse = event.get("parse_data") or {}
                intent = (parse.get("intent") or {}).get("name")
                current["intent"] = intent
                current["entities"] = _entity_features(parse.get("entities") or [], intent, domain)
                user_seen = True
            elif kind == "action":
                if event.get("name") in {"action_session_start"}:
                    continue
                checkpoint = (index, _copy_state(current), user_seen, len(states))
                if user_seen or event.get("name") != "action_listen":
                    state = _copy_state(current)
                    if _activates_itself(applied, index):
                        # A loop's first run sees itself active, so rules conditioned on the
                        # loop also match when it starts and finishes in one go.
                        state["active_loop"] = event["name"]
                    states.append(state)
                current["prev_action"] = event.get("name")
            elif kind == "slot":
                slot = domain.slots.get(event.get("name"))
                if slot is not None and slot.influence_conversation:
                    feature = slot.feature(event.get("value"))
                    if feature is None:
                        current["slots"].pop(slot.name, None)
                    else:
                        current["slots"][slot.name] = feature
            elif kind in {"active_loop", "form"}:
                current["active_loop"] = event.get("name")
        states.append(_copy_state(current))
        self.at, self.current, self.user_seen, done = checkpoint
        self.done = states[:done]
        return states


def _copy_state(state: dict) -> dict:
    return dict(state, slots=dict(state["slots"]))


def _activates_itself(applied: list[dict], index: int) -> bool:
    name = applied[index].get("name")
    for later in range(index + 1, len(applied)):  # no slice: it copied the rest of the chat
        event = applied[later]
        if event.get("event") == "action":
            return False
        if event.get("event") in {"active_loop", "form"} and event.get("name") == name:
            return True
    return False


def _entity_features(entities: list[dict], intent: str | None, domain: Domain) -> frozenset:
    kept = set()
    rules = domain.intent(intent) if intent else None
    for entity in entities:
        name = entity.get("entity")
        if rules is not None and not rules.keeps_entity(name):
            continue
        kept.add(name)
        if entity.get("role"):
            kept.add(f"{name}#{entity['role']}")
        if entity.get("group"):
            kept.add(f"{name}#{entity['group']}")
    return frozenset(kept)


def state_matches(rule_state: dict, state: dict) -> bool:
    """Every feature the rule names must hold in the conversation's state."""
    for key, expected in rule_state.items():
        if key == "slots":
            for name, value in expected.items():
                actual = state.get("slots", {}).get(name)
                if value is None:
                    if actual is not None:
                        return False
                elif actual != value:
                    return False
        elif key == "entities":
            if not expected <= (state.get("entities") or frozenset()):
                return False
        elif key == "active_loop":
            if (state.get("active_loop") or None) != expected:
                return False
        elif key == "prev_action" and expected == "*":
            continue
        elif state.get(key) != expected:
            return False
    return True
