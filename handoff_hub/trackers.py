"""A conversation's tracker in the database: a snapshot on its row, plus the events each later
bot turn added, one TrackerEvents row per turn.

A turn writes only what it added, so its cost no longer grows with the chat. Rewriting the
whole tracker on every turn had PostgreSQL compress and log the entire chat again each time:
at 500 messages/s the 40th turn of a chat took 8 times as long as the first, with the
database at 80% of a core. The row's snapshot is rewritten (and the rows it now covers
dropped) every SNAPSHOT_EVERY turns, so reading a tracker stays one query of a few rows, and
whenever a turn's state is not its input plus its events.
"""

import json

from handoff_hub import write_batch
from handoff_hub.models import Conversation, TrackerEvents

SNAPSHOT_EVERY = 100


def extends(before: dict | None, state: dict, appended: list) -> bool:
    """Is `state` the tracker `before` (None: a new chat) plus the `appended` events, and
    nothing else? The engine's turns are (Assistant.handle); this says when one can be
    written, or sent, as its new events alone."""
    before = before or {}
    return (
        set(state) == {"sender_id", "events"}
        and set(before) <= {"sender_id", "events"}
        and before.get("sender_id", state["sender_id"]) == state["sender_id"]
        and len(state["events"]) == len(before.get("events") or []) + len(appended)
    )


def prepare_write(result, before: dict | None) -> None:
    """Encode what committing `result` (a turn computed on the tracker `before`) will write,
    in the thread that computed it rather than the writer's: its events alone when its state
    is `before` plus them, else the whole state."""
    plain = extends(before, result.tracker_state, result.events)
    written_as(result, json.dumps(result.events) if plain else None)


def written_as(result, events_json: str | None) -> None:
    """Mark `result` to be stored as these events (JSON), or, with None, as its whole state."""
    result.tracker_events_json = events_json
    result.tracker_json = None if events_json is not None else json.dumps(result.tracker_state)


def record_turn(conversation: Conversation, result) -> list[str]:
    """Store the turn's tracker change (in the caller's transaction, or the writer's batch)
    and move the row to its next version; returns the row's fields to save."""
    version = conversation.tracker_version + 1
    conversation.tracker_version = version
    added = result.tracker_events_json
    if added is not None and version - conversation.tracker_base_version < SNAPSHOT_EVERY:
        write_batch.add_tracker_events(conversation.pk, version, added)
        return ["tracker_version"]
    conversation.tracker_state = result.tracker_state
    # Encoded already when the state was not an extension (handoff_hub.write_batch writes it
    # as is); else Django encodes it.
    conversation.tracker_json = result.tracker_json
    conversation.tracker_base_version = version
    write_batch.drop_tracker_events(conversation.pk, version)
    return ["tracker_state", "tracker_base_version", "tracker_version"]


_TRACKER_FIELDS = ("tracker_state", "tracker_base_version", "tracker_version")


def load(conversation: Conversation, attempts: int = 5) -> dict | None:
    """The whole tracker of `conversation` at its `tracker_version` (None: no turn yet).

    The row and its events are two reads: outside the row lock another process may commit a
    snapshot in between and drop rows the row read still needs. Then the rows read are not
    every version after the snapshot, and the row's tracker fields are read again (in place,
    so `conversation.tracker_version` names the tracker returned).
    """
    for _attempt in range(attempts):
        base, version = conversation.tracker_base_version, conversation.tracker_version
        added = TrackerEvents.objects.filter(
            conversation_id=conversation.pk, version__gt=base, version__lte=version
        )
        rows = list(added.order_by("version").values_list("version", "events"))
        for pending in write_batch.tracker_events_not_flushed(conversation.pk):
            if base < pending[0] <= version:
                rows.append(pending)  # a turn of this batch, after every committed one
        if _complete(conversation, rows):
            return _with_events(conversation, [text for _number, text in rows])
        conversation.refresh_from_db(fields=_TRACKER_FIELDS)
    raise RuntimeError(f"the tracker of conversation {conversation.pk} kept moving while read")


def load_many(conversations) -> dict[int, dict | None]:
    """`load` for every conversation of a queryset, by id, in chunks of 500 rows."""
    fields = ("pk", "public_id", "tracker_state", "tracker_base_version", "tracker_version")
    trackers: dict[int, dict | None] = {}
    chunk: list[Conversation] = []
    for conversation in conversations.only(*fields).iterator(chunk_size=500):
        chunk.append(conversation)
        if len(chunk) == 500:
            trackers.update(_load_chunk(chunk))
            chunk = []
    trackers.update(_load_chunk(chunk))
    return trackers


def _load_chunk(conversations: list[Conversation]) -> dict[int, dict | None]:
    by_pk = {c.pk: c for c in conversations}
    rows: dict[int, list[tuple[int, str]]] = {pk: [] for pk in by_pk}
    added = TrackerEvents.objects.filter(conversation_id__in=list(by_pk)).order_by("version")
    for pk, version, text in added.values_list("conversation_id", "version", "events"):
        row = by_pk[pk]
        if row.tracker_base_version < version <= row.tracker_version:
            rows[pk].append((version, text))
    trackers = {}
    for pk, row in by_pk.items():
        if _complete(row, rows[pk]):
            trackers[pk] = _with_events(row, [text for _number, text in rows[pk]])
        else:  # a snapshot landed between the two reads (see load)
            trackers[pk] = load(row)
    return trackers


def _complete(conversation: Conversation, rows: list[tuple[int, str]]) -> bool:
    """Are `rows` (version, events) every turn after the row's snapshot, in order?"""
    wanted = range(conversation.tracker_base_version + 1, conversation.tracker_version + 1)
    return [number for number, _text in rows] == list(wanted)


def _with_events(conversation: Conversation, texts: list[str]) -> dict | None:
    snapshot = conversation.tracker_state
    if not texts:
        return snapshot
    state = dict(snapshot or {"sender_id": str(conversation.public_id)})
    events = list(state.get("events") or [])
    for text in texts:
        events.extend(json.loads(text))
    state["events"] = events
    return state
