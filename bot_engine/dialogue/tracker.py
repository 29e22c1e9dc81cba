"""The conversation tracker: a list of Rasa events and the state they add up to."""

import copy

from bot_engine.dialogue.events import KNOWN_EVENTS
from bot_engine.domain import Domain
from bot_engine.flows.stack import apply_stack_update


class Tracker:
    def __init__(self, sender_id: str, domain: Domain, events: list[dict] | None = None):
        self.sender_id = sender_id
        self.domain = domain
        self.events: list[dict] = []
        self._reset()
        for event in events or []:
            self.events.append(event)
        self._rebuild()

    # ---- state ----
    def _reset(self) -> None:
        self.slots = self.domain.initial_slots()
        self.latest_message: dict = {}
        self.latest_action: str | None = None
        self.latest_bot_utterance: dict | None = None
        self.active_loop: dict = {}
        self.paused = False
        self.followup_action: str | None = None
        self.stack: list[dict] = []  # the CALM dialogue stack (bottom → top)

    def _rebuild(self) -> None:
        self._reset()
        for event in self.applied_events():
            self._apply(event)

    def _apply(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "user":
            self.latest_message = event
            self.followup_action = None
        elif kind == "bot":
            self.latest_bot_utterance = event
        elif kind == "action":
            self.latest_action = event.get("name")
            self.followup_action = None
            if self.active_loop.get("name") == event.get("name"):
                self.active_loop["rejected"] = False
        elif kind == "slot":
            slot = self.domain.slots.get(event.get("name"))
            value = event.get("value")
            self.slots[event.get("name")] = slot.coerce(value) if slot else value
        elif kind in {"active_loop", "form"}:
            name = event.get("name")
            self.active_loop = (
                {"name": name, "is_interrupted": False, "rejected": False} if name else {}
            )
        elif kind == "action_execution_rejected":
            if self.active_loop.get("name") == event.get("name"):
                self.active_loop["rejected"] = True
        elif kind in {"loop_interrupted", "form_validation"}:
            if self.active_loop:
                self.active_loop["is_interrupted"] = bool(
                    event.get("is_interrupted", not event.get("validate", True))
                )
        elif kind == "followup":
            self.followup_action = event.get("name")
        elif kind == "pause":
            self.paused = True
        elif kind == "resume":
            self.paused = False
        elif kind == "stack":
            self.stack = apply_stack_update(self.stack, event.get("update"))
        elif kind == "reset_slots":
            self.slots = self.domain.initial_slots()
        elif kind == "restart":
            self._reset()
            self.followup_action = "action_session_start"
        elif kind in {"session_started", "session_ended"}:
            self._reset()

    def update(self, event: dict) -> None:
        """Log an event and apply its effect (rewinds rebuild the state from applied events)."""
        if event.get("event") not in KNOWN_EVENTS:
            raise ValueError(f"unknown event type {event.get('event')!r}")
        self.events.append(event)
        if event["event"] in {"rewind", "undo"} or (
            event["event"] == "action"
            and self._is_repeated_loop_action(event["name"], self.events[:-1])
        ):
            self._rebuild()
        else:
            self._apply(event)

    # ---- applied events (rewind / undo / loop collapse) ----
    def applied_events(self) -> list[dict]:
        loop_names = {
            e.get("name") for e in self.events if e.get("event") in {"active_loop", "form"}
        } - {None}
        applied: list[dict] = []
        for event in self.events:
            kind = event.get("event")
            if kind in {"restart", "session_started"}:
                applied = []
            elif kind == "undo":
                _pop_through(applied, "action")
            elif kind == "rewind":
                _pop_through(applied, "user")
                _pop_through(applied, "action")
            elif (
                kind == "action"
                and event.get("name") in loop_names
                and (self._is_repeated_loop_action(event["name"], applied))
            ):
                _collapse_loop_turns(applied, event["name"])
            else:
                applied.append(event)
        return applied

    @staticmethod
    def _is_repeated_loop_action(name: str, history: list[dict]) -> bool:
        """True if `name` is a loop already running (not its first run, not an unhappy path).

        Scans back to the loop's previous run; any user message on the way must have been
        answered by the loop itself, otherwise the user took the conversation elsewhere.
        """
        following = name  # the action right after the newest user message seen so far
        for event in reversed(history):
            kind = event.get("event")
            if kind in {"active_loop", "form"} and event.get("name") is None:
                return False
            if kind == "action_execution_rejected" and event.get("name") == name:
                return False
            if kind == "user":
                if following != name:
                    return False
            elif kind == "action":
                if event.get("name") == name:
                    return True
                following = event.get("name")
        return False

    # ---- queries ----
    @property
    def latest_intent(self) -> str | None:
        return ((self.latest_message.get("parse_data") or {}).get("intent") or {}).get("name")

    def actions_since_user(self) -> list[str]:
        names: list[str] = []
        for event in reversed(self.applied_events()):
            if event.get("event") == "user":
                break
            if event.get("event") == "action" and event.get("name") != "action_listen":
                names.append(event["name"])
        return list(reversed(names))

    def last_n_intents(self, n: int) -> list[str]:
        """Newest first: intents of the last n user/rewind events since the last restart."""
        found: list[str] = []
        seen = 0
        for event in reversed(self.events):
            if event.get("event") == "restart":
                break
            if event.get("event") in {"user", "rewind"}:
                seen += 1
                if event["event"] == "user":
                    found.append(((event.get("parse_data") or {}).get("intent") or {}).get("name"))
                if seen == n:
                    break
        return found

    def has_user_message(self) -> bool:
        return any(e.get("event") == "user" for e in self.applied_events())

    def to_state(self) -> dict:
        # Events are never changed once appended, so the state may share them: a deep copy
        # here was most of a turn's cost and grew with every turn of the conversation.
        return {"sender_id": self.sender_id, "events": list(self.events)}

    def current_state(self) -> dict:
        """Rasa's tracker JSON (what action servers and the tracker endpoint expect)."""
        latest = dict(self.latest_message.get("parse_data") or {})
        if self.latest_message:
            latest["text"] = self.latest_message.get("text")
        return {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": latest,
            "latest_event_time": self.events[-1]["timestamp"] if self.events else None,
            "followup_action": self.followup_action,
            "paused": self.paused,
            "events": copy.deepcopy(self.events),
            "latest_input_channel": self.latest_message.get("input_channel"),
            "active_loop": dict(self.active_loop),
            "latest_action": {"action_name": self.latest_action} if self.latest_action else {},
            "latest_action_name": self.latest_action,
            "stack": copy.deepcopy(self.stack),
        }

    def stack_history(self) -> list[list[dict]]:
        """Every distinct stack state of the current session, oldest first."""
        states: list[list[dict]] = []
        stack: list[dict] = []
        for event in self.applied_events():
            if event.get("event") == "stack":
                stack = apply_stack_update(stack, event.get("update"))
                if not states or states[-1] != stack:
                    states.append(stack)
        return states

    def slot_was_ever_set(self, name: str) -> bool:
        return any(
            e.get("event") == "slot" and e.get("name") == name for e in self.applied_events()
        )


def _pop_through(applied: list[dict], kind: str) -> None:
    while applied:
        if applied.pop().get("event") == kind:
            return


def _collapse_loop_turns(applied: list[dict], loop_name: str) -> None:
    """Drop the user/action turns since the loop's previous run; keep bot, slot, loop events."""
    index = len(applied) - 1
    while index >= 0:
        event = applied[index]
        if event.get("event") == "action" and event.get("name") == loop_name:
            return
        if event.get("event") in {"action", "user", "user_featurization"}:
            del applied[index]
        index -= 1
