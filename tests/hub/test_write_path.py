"""The message path's write machinery: group commit and set-based writes."""

import asyncio
import logging
import tempfile
import threading
import uuid

import pytest
from channels.db import database_sync_to_async
from django.db import IntegrityError, connection, transaction

from handoff_hub import (
    connection_upkeep,
    consumers,
    group_commit,
    hooks,
    listeners,
    trackers,
    write_batch,
)
from handoff_hub.engine import get_assistant
from handoff_hub.messaging import lock_conversation_light, store_incoming
from handoff_hub.models import Conversation, Message, Webhook, WebhookDelivery
from handoff_hub.status import Sender
from tests.hub.conftest import customer, say

pytestmark = pytest.mark.django_db(transaction=True)


def _new_chats(count: int) -> list[Conversation]:
    # database_sync_to_async closes its connection after use (the suite drops its database).
    return [Conversation.objects.create() for _ in range(count)]


def _submit_stores(chats):
    return [
        group_commit.submit(
            store_incoming, chat.pk, f"hi {n}", f"k{n}", None, order_key=chat.pk, client_id=f"k{n}"
        )
        for n, chat in enumerate(chats)
    ]


@pytest.mark.asyncio
async def test_concurrent_writes_share_commits():
    chats = await database_sync_to_async(_new_chats)(20)
    batches_before, jobs_before = group_commit.stats()
    stored = await asyncio.gather(*_submit_stores(chats))
    batches, jobs = group_commit.stats()
    assert jobs - jobs_before == 20
    assert batches - batches_before < 20, "no two writes shared a commit"
    assert [s.message.seq for s in stored] == [1] * 20
    texts = dict(
        await database_sync_to_async(list)(Message.objects.values_list("conversation", "text"))
    )
    assert texts == {chat.pk: f"hi {n}" for n, chat in enumerate(chats)}


@pytest.mark.asyncio
async def test_a_failing_write_fails_alone_and_its_batch_neighbours_are_stored():
    chats = await database_sync_to_async(_new_chats)(5)
    futures = _submit_stores(chats)
    missing = group_commit.submit(store_incoming, 10**9, "nobody", None, None, order_key=10**9)
    stored = await asyncio.gather(*futures)
    with pytest.raises(Conversation.DoesNotExist):
        await missing
    assert [s.created for s in stored] == [True] * 5
    assert await database_sync_to_async(Message.objects.count)() == 5


async def _hold_the_writer() -> tuple[asyncio.Future, threading.Event]:
    """A job that keeps the writer busy until released: the jobs queued meanwhile make up
    its next batch. Returns once the writer runs it."""
    running, release = threading.Event(), threading.Event()

    def hold() -> None:
        running.set()
        assert release.wait(10)

    held = group_commit.submit(hold)
    assert await asyncio.to_thread(running.wait, 10)
    return held, release


async def _one_batch(chats, submit_other) -> tuple[list, object]:
    """Stores for `chats` and one more job (`submit_other()`), all in one batch: the stores'
    results, and the other job's result or error."""
    held, release = await _hold_the_writer()
    futures = _submit_stores(chats)
    other = submit_other()
    release.set()
    await held
    stored = await asyncio.gather(*futures)
    try:
        return stored, await other
    except Exception as error:  # noqa: BLE001 - the caller checks which
        return stored, error


def _append_with_taken_seq(conversation_id: int) -> None:
    """A job whose message takes a seq its chat already has: the batch's INSERT fails."""
    conversation = lock_conversation_light(conversation_id)
    clash = Message(conversation=conversation, seq=1, sender=Sender.CUSTOMER, text="clash")
    write_batch.add_message(clash, lambda: None)


@pytest.mark.asyncio
async def test_a_job_failing_at_the_batch_insert_fails_alone_with_djangos_error(caplog):
    caplog.set_level(logging.INFO, logger="handoff_hub.group_commit")
    chats = await database_sync_to_async(_new_chats)(4)
    first = chats[0].pk
    await group_commit.submit(store_incoming, first, "first", None, None, order_key=first)
    stored, clash = await _one_batch(
        chats[1:], lambda: group_commit.submit(_append_with_taken_seq, first, order_key=first)
    )
    assert isinstance(clash, IntegrityError)
    # The four jobs shared a batch, whose single INSERT failed; each then ran alone.
    assert "Batch of 4 failed" in caplog.text
    assert [s.created for s in stored] == [True] * 3
    rows = await database_sync_to_async(list)(Message.objects.values_list("conversation", "text"))
    assert sorted(rows) == sorted(
        [(first, "first"), *((chat.pk, f"hi {n}") for n, chat in enumerate(chats[1:]))]
    )


def _tracker_row_of_a_missing_chat() -> None:
    """A job whose write breaks a foreign key: checked only at COMMIT (Django's foreign keys
    are deferred), so the batch fails at its commit, not at a write."""
    write_batch.add_tracker_events(10**9, 1, "[]")


@pytest.mark.asyncio
async def test_a_batch_failing_at_its_commit_is_retried_and_only_the_culprit_fails(caplog):
    caplog.set_level(logging.INFO, logger="handoff_hub.group_commit")
    chats = await database_sync_to_async(_new_chats)(3)
    stored, culprit = await _one_batch(
        chats, lambda: group_commit.submit(_tracker_row_of_a_missing_chat)
    )
    assert isinstance(culprit, IntegrityError)
    assert "Batch of 4 failed" in caplog.text
    assert [s.created for s in stored] == [True] * 3
    assert await database_sync_to_async(Message.objects.count)() == 3
    # The writer's connection came through: the next batch commits.
    (later,) = await database_sync_to_async(_new_chats)(1)
    await group_commit.submit(store_incoming, later.pk, "after", None, None, order_key=later.pk)
    assert await database_sync_to_async(Message.objects.count)() == 4


def _message_whose_announcing_fails(conversation_id: int) -> None:
    """A job whose message is written, then fails to be announced: after the batch's COMMIT."""
    conversation = lock_conversation_light(conversation_id)
    conversation.last_seq += 1
    write_batch.save_conversation(conversation, ["last_seq"])
    message = Message(
        conversation=conversation, seq=conversation.last_seq, sender=Sender.CUSTOMER, text="once"
    )

    def announce() -> None:
        raise RuntimeError("announcing failed")

    write_batch.add_message(message, announce)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="commits in the writes' round trip")
@pytest.mark.asyncio
async def test_a_batch_failing_after_its_commit_is_not_run_again(caplog):
    caplog.set_level(logging.INFO, logger="handoff_hub.group_commit")
    chats = await database_sync_to_async(_new_chats)(3)
    stored, failing = await _one_batch(
        chats,
        lambda: group_commit.submit(
            _message_whose_announcing_fails, chats[0].pk, order_key=chats[0].pk
        ),
    )
    assert failing is None  # it ran once, and committed
    assert "Batch of 4 failed after its commit" in caplog.text
    assert "retrying each alone" not in caplog.text
    assert [s.created for s in stored] == [True] * 3
    texts = await database_sync_to_async(list)(
        Message.objects.order_by("conversation", "seq").values_list("conversation", "seq", "text")
    )
    first = chats[0].pk
    assert texts == [(first, 1, "hi 0"), (first, 2, "once")] + [
        (chat.pk, 1, f"hi {n}") for n, chat in enumerate(chats) if n
    ]


class _WireTrace:
    """libpq's trace of the writer thread's connection: what it sends, message by message.
    The suite drops connections after every batch (CONN_MAX_AGE 0); the writer keeps one
    while tracing."""

    def __init__(self, file):
        self.file = file

    def keep_connections(self) -> None:
        connection.settings_dict["CONN_MAX_AGE"] = 600
        connection.close_at = None  # and this connection is kept too
        # Read the active webhooks now: the batches that follow trust what this one found
        # for a while (hooks.WEBHOOK_REFRESH_SECONDS) instead of reading them again.
        hooks.any_active()

    def start(self) -> None:
        from psycopg import pq

        connection.ensure_connection()
        pgconn = connection.connection.pgconn
        pgconn.trace(self.file.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def stop(self) -> None:
        connection.connection.pgconn.untrace()
        connection.settings_dict["CONN_MAX_AGE"] = 0
        connection.close_at = 0  # closed after this batch, as the suite expects

    def sent(self) -> list[tuple[str, str]]:
        """(message type, its text) of each message the client sent, in order."""
        self.file.seek(0)
        fields = [line.rstrip("\n").split("\t") for line in self.file]
        return [(f[2], f[3].strip() if len(f) > 3 else "") for f in fields if f[0] == "F"]


async def _trace_a_batch_of_stores(count: int) -> list[tuple[str, str]]:
    chats = await database_sync_to_async(_new_chats)(count)
    with tempfile.TemporaryFile("w+") as file:
        trace = _WireTrace(file)
        await group_commit.submit(trace.keep_connections)
        await group_commit.submit(trace.start)
        held, release = await _hold_the_writer()
        futures = _submit_stores(chats)
        release.set()
        await held
        await asyncio.gather(*futures)
        await group_commit.submit(trace.stop)
        return trace.sent()  # only the stores' batch sends anything: the others read nothing


@pytest.mark.skipif(connection.vendor != "postgresql", reason="round trips to a server")
@pytest.mark.asyncio
async def test_a_batch_is_three_round_trips_its_commit_riding_with_its_writes(monkeypatch):
    # What the writer reads now and then (the webhooks, its connection's health) stays out of
    # the traced batch however slowly this machine runs it.
    monkeypatch.setattr(hooks, "WEBHOOK_REFRESH_SECONDS", 3600.0)
    monkeypatch.setattr(connection_upkeep, "INTERVAL_SECONDS", 3600.0)
    sent = await _trace_a_batch_of_stores(3)
    kinds = [kind for kind, _text in sent]
    syncs = [i for i, kind in enumerate(kinds) if kind == "Sync"]
    assert len(syncs) == 3  # after BEGIN, after the reads, after the writes
    assert "Query" not in kinds  # no COMMIT of its own, and no query after the commit
    assert '"BEGIN"' in sent[0][1]
    writes = sent[syncs[1] + 1 : syncs[2]]
    parsed = [text for kind, text in writes if kind == "Parse"]
    assert any('"UPDATE ' in text for text in parsed) and any('"INSERT ' in text for text in parsed)
    assert '"COMMIT"' in parsed[-1]  # the writes' round trip ends the transaction
    assert set(kinds[syncs[2] + 1 :]) <= {"Flush"}  # and nothing follows it
    assert await database_sync_to_async(Message.objects.count)() == 3


def _submit_new_chats(count: int) -> list[asyncio.Future]:
    """What a widget's `hello` submits for a new chat, `count` times."""
    return [
        group_commit.submit(consumers._new_conversation, uuid.uuid4(), {"n": n}, f"c{n}", "shop")
        for n in range(count)
    ]


@pytest.mark.asyncio
async def test_new_chats_of_one_batch_are_created_together_each_with_its_own_row():
    chats = await database_sync_to_async(_new_chats)(2)
    held, release = await _hold_the_writer()
    futures = _submit_new_chats(4)
    stores = _submit_stores(chats)
    batches_before = group_commit.stats()[0]
    release.set()
    await held
    created = await asyncio.gather(*futures)
    await asyncio.gather(*stores)
    assert group_commit.stats()[0] - batches_before == 2  # the held job's, then all of these
    assert len({chat.pk for chat in created}) == 4 and None not in {c.pk for c in created}
    for n, chat in enumerate(created):
        row = await Conversation.objects.aget(pk=chat.pk)
        assert (row.public_id, row.customer_metadata, row.customer_id, row.site) == (
            chat.public_id,
            {"n": n},
            f"c{n}",
            "shop",
        )
        assert row.created_at == chat.created_at and row.created_at is not None
        assert not chat._state.adding  # a later save() of it updates its row
    assert await Message.objects.acount() == 2  # the batch's stores went in beside them


@pytest.mark.asyncio
async def test_new_chats_in_a_batch_that_fails_are_each_created_once_when_retried_alone():
    held, release = await _hold_the_writer()
    futures = _submit_new_chats(3)
    missing = group_commit.submit(store_incoming, 10**9, "nobody", None, None, order_key=10**9)
    release.set()
    await held
    created = await asyncio.gather(*futures)
    with pytest.raises(Conversation.DoesNotExist):
        await missing
    rows = {
        row.pk: row.public_id
        async for row in Conversation.objects.filter(customer_id__in=["c0", "c1", "c2"])
    }
    assert rows == {chat.pk: chat.public_id for chat in created}  # one row each, its own id


def test_a_chat_created_in_a_batch_cannot_be_saved_before_its_flush():
    """Its row and id come at the flush: filed under no id, its changes would be lost."""
    with write_batch.batch(), transaction.atomic():
        write_batch.prepare([], [])
        chat = write_batch.create_conversation(customer_id="early")
        with pytest.raises(ValueError, match="no row until its flush"):
            write_batch.save_conversation(chat, ["site"])
        with pytest.raises(ValueError, match="no row until its flush"):
            write_batch.save_listeners(chat)
        write_batch.flush()
        assert chat.pk is not None
        write_batch.save_conversation(chat, ["site"])  # now it has a row


@pytest.mark.asyncio
async def test_a_new_chat_outside_a_batch_is_created_at_once():
    chat = await database_sync_to_async(consumers._new_conversation)(uuid.uuid4(), {}, "solo", "")
    assert chat.pk is not None
    assert await Conversation.objects.filter(pk=chat.pk, customer_id="solo").aexists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="round trips to a server")
@pytest.mark.asyncio
async def test_a_burst_of_new_chats_is_one_insert_riding_with_the_commit(monkeypatch):
    monkeypatch.setattr(hooks, "WEBHOOK_REFRESH_SECONDS", 3600.0)
    monkeypatch.setattr(connection_upkeep, "INTERVAL_SECONDS", 3600.0)
    with tempfile.TemporaryFile("w+") as file:
        trace = _WireTrace(file)
        await group_commit.submit(trace.keep_connections)
        await group_commit.submit(trace.start)
        held, release = await _hold_the_writer()
        futures = _submit_new_chats(5)
        release.set()
        await held
        created = await asyncio.gather(*futures)
        await group_commit.submit(trace.stop)
        sent = trace.sent()
    inserts = [text for _kind, text in sent if 'INSERT INTO "hub_conversation"' in text]
    assert len(inserts) == 1, sent  # not one statement and round trip per new chat
    parsed = [text for kind, text in sent if kind == "Parse"]
    assert "hub_conversation" in parsed[-2] and '"COMMIT"' in parsed[-1]  # they travel together
    assert await Conversation.objects.filter(pk__in=[c.pk for c in created]).acount() == 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="round trips to a server")
@pytest.mark.asyncio
async def test_with_a_webhook_active_its_deliveries_commit_with_the_messages():
    await Webhook.objects.acreate(url="http://127.0.0.1:9/", secret="k", events=[])
    sent = await _trace_a_batch_of_stores(3)
    texts = [text for _kind, text in sent]
    deliveries = next(i for i, text in enumerate(texts) if '"hub_webhookdelivery"' in text)
    assert not any('"COMMIT"' in text for text in texts[:deliveries])  # written before it
    assert sent[-1] == ("Query", '"COMMIT"')  # the batch commits once its deliveries are in
    assert await WebhookDelivery.objects.acount() == 3


@pytest.mark.asyncio
async def test_listener_changes_of_one_batch_all_reach_the_row():
    (chat,) = await database_sync_to_async(_new_chats)(1)
    held, release = await _hold_the_writer()
    # Without the row in the batch's locks (no order_key), each change reads it itself.
    changes = [
        group_commit.submit(listeners.add, chat.pk, "customer:one"),
        group_commit.submit(listeners.add, chat.pk, "watcher:two"),
        group_commit.submit(listeners.add, chat.pk, "customer:three"),
        group_commit.submit(listeners.remove, chat.pk, "watcher:two"),
    ]
    release.set()
    await held
    await asyncio.gather(*changes)
    row = await Conversation.objects.aget(pk=chat.pk)
    assert row.listeners == ["customer:one", "customer:three"]


@pytest.mark.asyncio
async def test_every_acknowledged_seq_is_the_stored_row_across_many_concurrent_chats():
    async def talk(number: int) -> tuple[str, list[tuple[int, str]]]:
        peer, welcome = await customer()
        acked = []
        for turn in range(3):
            ack = await say(peer, f"hello {number}.{turn}", f"c{number}-{turn}")
            acked.append((ack["seq"], f"hello {number}.{turn}"))
            await peer.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
        await peer.close()
        return welcome["conversation"], acked

    for conversation, acked in await asyncio.gather(*(talk(n) for n in range(12))):
        rows = await database_sync_to_async(list)(
            Message.objects.filter(conversation__public_id=conversation)
            .order_by("seq")
            .values_list("seq", "sender", "text")
        )
        assert [seq for seq, _s, _t in rows] == list(range(1, len(rows) + 1))
        for seq, text in acked:
            assert rows[seq - 1] == (seq, "customer", text)


@pytest.mark.asyncio
async def test_turn_dropped_by_a_handoff_never_feeds_the_next_turn(make_agent, monkeypatch):
    from handoff_hub.transitions import claim_conversation, return_to_bot

    alex = await database_sync_to_async(make_agent)("alex")
    assistant = await database_sync_to_async(get_assistant)()
    real_handle = assistant.handle
    started, release = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_first_turn(*args, **kwargs):
        if args[1] == "slow one":
            loop.call_soon_threadsafe(started.set)
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(10)
        return real_handle(*args, **kwargs)

    monkeypatch.setattr(assistant, "handle", slow_first_turn)
    peer, welcome = await customer()
    await say(peer, "hello", "c-0")
    await peer.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    await say(peer, "slow one", "c-1")
    await started.wait()
    # While the bot thinks, a human takes the chat: the finished turn must be dropped.
    chat = await Conversation.objects.aget(public_id=welcome["conversation"])
    await database_sync_to_async(_hand_off)(chat.pk)
    await database_sync_to_async(claim_conversation)(chat.pk, alex)
    release.set()
    await asyncio.sleep(0.5)
    assert not any(
        f["type"] == "message" and f["sender"] == "bot" and f["seq"] > 3 for f in peer.received
    )
    # Back with the bot, the next turn starts from the stored tracker, not the dropped one.
    await database_sync_to_async(return_to_bot)(chat.pk, alex)
    await peer.until(lambda f: f["type"] == "message" and f["data"].get("event") == "returned")
    await say(peer, "thanks", "c-2")
    await peer.until(lambda f: f["type"] == "message" and f["sender"] == "bot" and f["seq"] > 7)
    stored = await database_sync_to_async(
        lambda: trackers.load(Conversation.objects.get(pk=chat.pk))
    )()
    kinds = [(e.get("event"), e.get("text")) for e in stored["events"]]
    assert ("user", "slow one") not in kinds, "the dropped turn reached the stored tracker"
    assert kinds.index(("resume", None)) < kinds.index(("user", "thanks"))
    await peer.close()


def _hand_off(conversation_id: int) -> None:
    from django.db import transaction

    from handoff_hub.messaging import lock_conversation
    from handoff_hub.transitions import enqueue_handoff

    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation_id), "manual", {})
