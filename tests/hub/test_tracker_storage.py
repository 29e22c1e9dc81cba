"""A tracker is stored as a snapshot plus each later turn's events, and always reads back whole."""

import json

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from handoff_hub import trackers
from handoff_hub.engine import get_assistant
from handoff_hub.models import Conversation, TrackerEvents
from tests.hub.conftest import customer, say

pytestmark = pytest.mark.django_db(transaction=True)
TEXTS = ["hello", "where is my order", "12345", "thanks", "are you a bot", "hello", "thanks"]


def _commit_turn(conversation_id: int, result) -> None:
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        conversation.save(update_fields=trackers.record_turn(conversation, result))


def _talk(conversation: Conversation, texts: list[str]) -> dict:
    """Run the demo bot's turns as the hub commits them; the last turn's whole state."""
    assistant = get_assistant()
    state = None
    for text in texts:
        before = trackers.load(Conversation.objects.get(pk=conversation.pk))
        result = assistant.handle(before, text, sender_id=str(conversation.public_id))
        trackers.prepare_write(result, before)
        _commit_turn(conversation.pk, result)
        state = result.tracker_state
    return state


def _shape(state: dict) -> list[tuple]:
    """A tracker's events without what differs between two runs of one chat (times, ids)."""
    return [(e["event"], e.get("name"), e.get("text")) for e in state["events"]]


def _same(a: dict | None, b: dict | None) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def test_each_turn_stores_only_its_own_events_and_the_tracker_reads_back_whole():
    conversation = Conversation.objects.create()
    state = _talk(conversation, TEXTS[:5])
    stored = Conversation.objects.get(pk=conversation.pk)
    assert _same(trackers.load(stored), state)
    # Nothing rewrote the whole tracker: the row has no snapshot, each turn one row of its own.
    assert stored.tracker_state is None and stored.tracker_version == 5
    rows = list(TrackerEvents.objects.filter(conversation=stored).order_by("version"))
    assert [row.version for row in rows] == [1, 2, 3, 4, 5]
    assert sum(len(json.loads(row.events)) for row in rows) == len(state["events"])


def test_every_snapshot_every_turns_the_row_takes_the_whole_tracker(monkeypatch):
    monkeypatch.setattr(trackers, "SNAPSHOT_EVERY", 3)
    conversation = Conversation.objects.create()
    state = _talk(conversation, TEXTS)
    stored = Conversation.objects.get(pk=conversation.pk)
    # Snapshots at turns 3 and 6; turn 7 is a row; what a snapshot covers is gone.
    assert stored.tracker_base_version == 6
    assert list(
        TrackerEvents.objects.filter(conversation=stored).values_list("version", flat=True)
    ) == [7]
    assert _same(trackers.load(stored), state)


def test_a_turn_that_rewrote_the_tracker_is_stored_whole():
    conversation = Conversation.objects.create()
    state = _talk(conversation, TEXTS[:3])
    result = get_assistant().handle(state, "thanks", sender_id=str(conversation.public_id))
    # A state that is not its input plus the turn's events (as a restart would leave it).
    result.tracker_state = {"sender_id": state["sender_id"], "events": state["events"][:2]}
    trackers.prepare_write(result, state)
    assert result.tracker_events_json is None
    _commit_turn(conversation.pk, result)
    stored = Conversation.objects.get(pk=conversation.pk)
    assert _same(trackers.load(stored), result.tracker_state)
    assert stored.tracker_base_version == 4
    assert not TrackerEvents.objects.filter(conversation=stored).exists()


def test_an_engine_process_reply_sends_a_rewritten_tracker_whole_and_the_hub_rebuilds_it():
    """What an engine process sends back for a turn (engine_replies): the events alone when
    the state is its input plus them, else the whole state; either way the hub rebuilds the
    state and what it stores exactly as a turn computed in its own threads."""
    from types import SimpleNamespace

    from handoff_hub.engine import LoadedAssistant
    from handoff_hub.engine_replies import reply_for, result_from

    conversation = Conversation.objects.create()
    before = _talk(conversation, TEXTS[:2])
    for rewrite in (False, True):
        result = get_assistant().handle(before, "thanks", sender_id=str(conversation.public_id))
        if rewrite:  # as a restart would leave it
            result.tracker_state = {
                "sender_id": before["sender_id"],
                "events": before["events"][:1],
            }
        result.assistant_version = LoadedAssistant(None, None, "fingerprint")
        expected = json.loads(json.dumps(result.tracker_state))
        trackers.prepare_write(result, before)
        stored_as = (result.tracker_events_json, result.tracker_json)
        reply = reply_for(7, "token", before, result)
        assert (reply.state is not None) is rewrite
        rebuilt = result_from(reply, SimpleNamespace(tracker_state=before))
        assert _same(rebuilt.tracker_state, expected)
        assert rebuilt.tracker_state.token == "token"
        assert (rebuilt.tracker_events_json, rebuilt.tracker_json) == stored_as


def test_a_snapshot_landing_between_the_row_and_its_events_is_read_again(monkeypatch):
    monkeypatch.setattr(trackers, "SNAPSHOT_EVERY", 3)
    conversation = Conversation.objects.create()
    _talk(conversation, TEXTS[:2])
    seen_before = Conversation.objects.get(pk=conversation.pk)  # base 0, version 2
    chunk_seen_before = Conversation.objects.get(pk=conversation.pk)
    # Meanwhile another process commits turn 3, a snapshot that drops rows 1 and 2.
    state = _talk(conversation, TEXTS[2:3])
    assert not TrackerEvents.objects.filter(conversation=conversation).exists()
    # The old row plus no rows would be the tracker of no turn at all, called version 2.
    assert _same(trackers.load(seen_before), state)
    assert seen_before.tracker_version == 3 and seen_before.tracker_base_version == 3
    # load_many's chunk read its rows before that snapshot and its events after it.
    chunk = trackers._load_chunk([chunk_seen_before])
    assert _same(chunk[conversation.pk], state)
    many = trackers.load_many(Conversation.objects.filter(pk=conversation.pk))
    assert _same(many[conversation.pk], state)


def test_load_many_reads_the_same_trackers_as_load(monkeypatch):
    monkeypatch.setattr(trackers, "SNAPSHOT_EVERY", 3)
    chats = [Conversation.objects.create() for _ in range(3)]
    for number, chat in enumerate(chats):
        _talk(chat, TEXTS[: 2 + 2 * number])
    many = trackers.load_many(Conversation.objects.all())
    assert set(many) == {chat.pk for chat in chats}
    for chat in chats:
        assert _same(many[chat.pk], trackers.load(Conversation.objects.get(pk=chat.pk)))
        assert len(many[chat.pk]["events"]) > 0


async def test_turns_committed_in_group_commit_batches_store_the_same_tracker(monkeypatch):
    # Over the socket: every turn is committed by the writer's batches (their INSERT and, at
    # the snapshot, the DELETE); the events are those of the same chat run turn by turn here.
    monkeypatch.setattr(trackers, "SNAPSHOT_EVERY", 4)
    peer, welcome = await customer()
    for number, text in enumerate(TEXTS):
        await say(peer, text, f"t-{number}")
        await peer.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    await peer.quiet(0.5)  # the last turn's commit lands
    chat = await Conversation.objects.aget(public_id=welcome["conversation"])
    stored = await database_sync_to_async(trackers.load)(chat)
    alone = await database_sync_to_async(lambda: _talk(Conversation.objects.create(), TEXTS))()
    assert _shape(stored) == _shape(alone)
    assert [e["text"] for e in stored["events"] if e["event"] == "user"] == TEXTS
    assert chat.tracker_version == len(TEXTS) and chat.tracker_base_version == 4
    versions = [row.version async for row in TrackerEvents.objects.filter(conversation=chat)]
    assert sorted(versions) == [5, 6, 7]
    await peer.close()


def test_the_migration_keeps_stored_trackers_whole_both_ways():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("hub", "0007_conversation_listeners")], [("hub", "0008_tracker_events")]
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    state = {"sender_id": "m", "events": [{"event": "user", "text": "hi"}]}
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        old = executor.loader.project_state(before).apps.get_model("hub", "Conversation")
        pk = old.objects.create(tracker_state=state, tracker_version=5).pk
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        # A row written by the old code holds its whole tracker: it is its own snapshot.
        migrated = Conversation.objects.get(pk=pk)
        assert migrated.tracker_base_version == 5
        assert trackers.load(migrated) == state
        _talk(migrated, ["thanks"])
        whole = trackers.load(Conversation.objects.get(pk=pk))
        assert len(whole["events"]) > 1
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        # Back on the old schema, the row holds every event again.
        apps = executor.loader.project_state(before).apps
        assert apps.get_model("hub", "Conversation").objects.get(pk=pk).tracker_state == whole
    finally:
        MigrationExecutor(connection).migrate(latest)
