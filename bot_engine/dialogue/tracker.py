"""The conversation tracker: a list of Rasa events and the state they add up to.

A turn starts from the previous turn's `to_state()`. That state carries a snapshot of what
its events add up to (slots, loop, stack, applied events, dialogue states), so the next turn
resumes from it instead of replaying the whole conversation; a state read back from storage
(plain JSON) is replayed once.
"""

import copy
from dataclasses import dataclass

from bot_engine.dialogue.applied import AppliedEvents, is_repeated_loop_action
from bot_engine.dialogue.events import KNOWN_EVENTS
from bot_engine.dialogue.states import StateHistory
from bot_engine.domain import Domain
from bot_engine.flows.stack import apply_stack_update

_SNAPSHOT_FIELDS = (
    "latest_message",
    "latest_action",
    "latest_bot_utterance",
    "paused",
    "followup_action",
    "stack",
)


class TrackerState(dict):
    """The JSON-able tracker state (`sender_id`, `events`) plus, in memory only, a snapshot of
    what its events add up to. Events are never changed once appended."""

    __slots__ = ("snapshot",)


@dataclass(frozen=True)
class _Snapshot:
    domain: Domain
    length: int
    last_event: dict | None
    fields: dict
    slots: dict
    active_loop: dict
    applied: AppliedEvents
    states: StateHistory


class Tracker:
    def __init__(self, sender_id: str, domain: Domain, events: list[dict] | None = None):
        self.sender_id = sender_id
        self.domain = domain
        self.events: list[dict] = list(events or [])
        self._reset()
        self._applied = AppliedEvents()
        self._states = StateHistory()
        self._rebuild()

    @classmethod
    def from_state(cls, sender_id: str, domain: Domain, state: dict | None) -> "Tracker":
        """The tracker of a stored state; resumed from its snapshot when it carries one."""
        events = (state or {}).get("events") or []
        snapshot = getattr(state, "snapshot", None)
        if (
            snapshot is None
            or snapshot.domain is not domain
            or snapshot.length != len(events)
            or (events[-1] if events else None) is not snapshot.last_event
        ):
            return cls(sender_id, domain, events)
        tracker = cls.__new__(cls)
        tracker.sender_id, tracker.domain, tracker.events = sender_id, domain, list(events)
        tracker.__dict__.update(snapshot.fields)
        tracker.stack = [dict(frame) for frame in snapshot.fields["stack"]]
        tracker.slots = dict(snapshot.slots)
        tracker.active_loop = dict(snapshot.active_loop)
        tracker._applied = snapshot.applied.copy()
        tracker._states = copy.copy(snapshot.states)
        tracker._after_restart = False
        return tracker

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
        self._after_restart = False

    def _rebuild(self) -> None:
        self._applied.rebuild(self.events)
        self._rebuild_state()

    def _rebuild_state(self) -> None:
        """What the applied events add up to (after a rewind, an undo, a loop's repeat)."""
        self._reset()
        for event in self._applied.events:
            self._apply(event)
        self._after_restart = False

    def _apply(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "user":
            self.latest_message = event
            self.followup_action = None
            self._after_restart = False
        elif kind == "bot":
            self.latest_bot_utterance = event
        elif kind == "action":
            self.latest_action = event.get("name")
            self.followup_action = None
            self._after_restart = False
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
            # Until the next action the state differs from its applied events (which a
            # restart empties), so neither a replay nor a snapshot would reproduce it.
            self._after_restart = True
        elif kind in {"session_started", "session_ended"}:
            self._reset()

    def update(self, event: dict) -> None:
        """Log an event and apply its effect (rewinds rebuild the state from applied events)."""
        if event.get("event") not in KNOWN_EVENTS:
            raise ValueError(f"unknown event type {event.get('event')!r}")
        self.events.append(event)
        appended = self._applied.add(event, self.events)
        if event["event"] in {"rewind", "undo"} or (
            event["event"] == "action"
            and is_repeated_loop_action(event["name"], self.events, len(self.events) - 1)
        ):
            # The state is what the applied events add up to; when they only grew by this
            # event (a repeated action that is no loop), applying it is the same.
            if appended and not self._after_restart:
                self._apply(event)
            else:
                self._rebuild_state()
        else:
            self._apply(event)

    # ---- applied events (rewind / undo / loop collapse) ----
    def applied_events(self) -> list[dict]:
        """The events that still count (a copy: rewinds, undos and loop repeats taken out)."""
        return list(self._applied.events)

    def has_applied_events(self) -> bool:
        return bool(self._applied.events)

    def latest_applied(self, kind: str | None = None) -> dict | None:
        """The newest applied event (of `kind`), scanning back only as far as needed."""
        for event in reversed(self._applied.events):
            if kind is None or event.get("event") == kind:
                return event
        return None

    def dialogue_states(self) -> list[dict]:
        """The policies' states (see `states.tracker_states`), resumed from the last call."""
        applied = self._applied
        states = self._states.states(applied.events, applied.changed_from, self.domain)
        applied.mark_unchanged()
        return states

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
        state = TrackerState(sender_id=self.sender_id, events=list(self.events))
        state.snapshot = (
            None
            if self._after_restart
            else _Snapshot(
                domain=self.domain,
                length=len(self.events),
                last_event=self.events[-1] if self.events else None,
                fields={name: getattr(self, name) for name in _SNAPSHOT_FIELDS}
                | {"stack": [dict(frame) for frame in self.stack]},
                slots=dict(self.slots),
                active_loop=dict(self.active_loop),
                applied=self._applied.copy(),
                states=copy.copy(self._states),
            )
        )
        return state

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
