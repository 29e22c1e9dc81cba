"""A tracker's applied events — rewinds, undos and repeated loop turns taken out — kept up
to date one event at a time.

Recomputing them from the whole conversation on every query made a turn cost grow with the
chat's length (several passes per turn). The result is the same as a fresh pass over all
events: each event folds into the list as the full pass would, and when an event names a loop
not seen before (the full pass treats repeats of every loop named anywhere in the
conversation), the list is rebuilt from scratch once.
"""

LOOP_EVENTS = frozenset({"active_loop", "form"})
RESETS = frozenset({"restart", "session_started"})


class AppliedEvents:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.loop_names: set[str] = set()
        # The lowest index changed (other than by appending) since `mark_unchanged()`.
        self.changed_from = 0

    def copy(self) -> "AppliedEvents":
        twin = AppliedEvents()
        twin.events = list(self.events)
        twin.loop_names = set(self.loop_names)
        twin.changed_from = self.changed_from
        return twin

    def mark_unchanged(self) -> None:
        self.changed_from = len(self.events)

    def rebuild(self, all_events: list[dict]) -> None:
        self.loop_names = {e.get("name") for e in all_events if e.get("event") in LOOP_EVENTS}
        self.loop_names.discard(None)
        self.events = []
        self.changed_from = 0
        for event in all_events:
            self._fold(event)

    def add(self, event: dict, all_events: list[dict]) -> bool:
        """Fold in `event`, the newest of `all_events`; True if it was simply appended."""
        name = event.get("name")
        if event.get("event") in LOOP_EVENTS and name is not None and name not in self.loop_names:
            self.rebuild(all_events)
            return False
        return self._fold(event)

    def _fold(self, event: dict) -> bool:
        applied = self.events
        kind = event.get("event")
        if kind in RESETS:
            self.events = []
            self.changed_from = 0
        elif kind == "undo":
            _pop_through(applied, "action")
            self._changed(len(applied))
        elif kind == "rewind":
            _pop_through(applied, "user")
            _pop_through(applied, "action")
            self._changed(len(applied))
        elif (
            kind == "action"
            and event.get("name") in self.loop_names
            and is_repeated_loop_action(event["name"], applied, len(applied))
        ):
            self._changed(_collapse_loop_turns(applied, event["name"]))
        else:
            applied.append(event)
            return True
        return False

    def _changed(self, index: int) -> None:
        self.changed_from = min(self.changed_from, index)


def is_repeated_loop_action(name: str, history: list[dict], end: int) -> bool:
    """True if `name` is a loop already running in `history[:end]` (not its first run, not an
    unhappy path).

    Scans back to the loop's previous run; any user message on the way must have been
    answered by the loop itself, otherwise the user took the conversation elsewhere.
    """
    following = name  # the action right after the newest user message seen so far
    for index in range(end - 1, -1, -1):
        event = history[index]
        kind = event.get("event")
        if kind in LOOP_EVENTS and event.get("name") is None:
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


def _pop_through(applied: list[dict], kind: str) -> None:
    while applied:
        if applied.pop().get("event") == kind:
            return


def _collapse_loop_turns(applied: list[dict], loop_name: str) -> int:
    """Drop the user/action turns since the loop's previous run; keep bot, slot, loop events.
    Returns the lowest index it changed."""
    lowest = len(applied)
    index = len(applied) - 1
    while index >= 0:
        event = applied[index]
        if event.get("event") == "action" and event.get("name") == loop_name:
            return lowest
        if event.get("event") in {"action", "user", "user_featurization"}:
            del applied[index]
            lowest = index
        index -= 1
    return lowest
