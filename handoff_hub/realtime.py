"""Channels groups and publishing events after the database commits.

The channel layer is a notification bus that may drop messages; the database is the record.
Publishing on commit means a client never sees a change that was rolled back, and a client that
missed an event catches up by replaying from the database.

Events reach this process's sockets directly and other processes through Redis only when one
of them listens (handoff_hub.listeners, handoff_hub.outbox); publishing never blocks the thread that
committed. The group-commit writer hands a whole batch's events to the loop at once
(`collecting`, `hand_over`): one wake-up of the loop per batch instead of one per event.
"""

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from handoff_hub import listeners, live, write_batch
from handoff_hub.layer_probe import redis_url_of_layer
from handoff_hub.outbox import existing_outbox, outbox_for

CONSOLE_GROUP = "console"
_CONVERSATION_GROUPS = {"customer": listeners.CUSTOMER, "watch": listeners.WATCHER}


def _key(public_id) -> str:
    # Group names allow only [a-zA-Z0-9._-]: use the UUID's hex form whatever we were given.
    return uuid.UUID(str(public_id)).hex


def customer_group(public_id) -> str:
    """Every open widget of one conversation."""
    return f"customer.{_key(public_id)}"


def watchers_group(public_id) -> str:
    """Agents who have the conversation open (transcript, notes, typing)."""
    return f"watch.{_key(public_id)}"


_shared: bool | None = None


def layer_is_shared() -> bool:
    """Do other processes hear this one's channel layer (Redis), or is it process-local?"""
    global _shared
    if _shared is None:
        _shared = redis_url_of_layer() is not None
    return _shared


def needs_remote(group: str, conversation=None) -> bool:
    """Must an event for `group` go through the layer? Only if another process may listen:
    for a conversation's groups its row says so (read under the row lock)."""
    if not layer_is_shared():
        return False
    kind = _CONVERSATION_GROUPS.get(group.split(".", 1)[0])
    if kind is None or conversation is None:
        return True
    return listeners.heard_elsewhere(conversation.listeners, kind)


def publish_on_commit(group: str, payload: dict | Callable[[], dict], conversation=None) -> None:
    """Send `payload` to every socket in `group` once the current transaction commits.

    `payload` may be a function, called then: for frames of rows written later in the
    transaction. Pass the (locked) `conversation` of a conversation's group so the event goes
    through Redis only when another process listens.
    """
    remote = needs_remote(group, conversation)

    def send() -> None:
        # Nobody listens here or elsewhere (e.g. no agent has the chat open): the frame is
        # not even built. A socket joining meanwhile reads the committed change as backlog.
        if remote or live.has_local(group):
            _send(group, payload() if callable(payload) else payload, remote)

    transaction.on_commit(send)


def send_now(group: str, payload: dict, conversation=None) -> None:
    """Send outside any transaction (for derived, non-stored frames such as queue positions)."""
    _send(group, payload, needs_remote(group, conversation))


def publish_conversation_on_commit(conversation_id: int, conversation=None) -> None:
    """Tell the consoles how a conversation looks after the current transaction commits.

    The summary is computed after commit so it includes everything the transaction did — or,
    in a group commit, by the batch at its flush, when everything is written
    (`write_batch.summarize_at_flush`, given the locked `conversation`).
    """
    if conversation is not None and write_batch.summarize_at_flush(conversation):
        return

    def send() -> None:
        from handoff_hub.models import Conversation
        from handoff_hub.presenters import conversation_summary

        conversation = Conversation.objects.select_related("queue", "assigned_agent").get(
            pk=conversation_id
        )
        summary = conversation_summary(conversation)
        _send(CONSOLE_GROUP, {"type": "conversation", "conversation": summary}, True)

    transaction.on_commit(send)


def publish_summary_on_commit(summary: dict) -> None:
    """Send a conversation summary built inside the transaction to the consoles on commit."""
    frame = {"type": "conversation", "conversation": summary}
    transaction.on_commit(lambda: _send(CONSOLE_GROUP, frame, True))


# ---- getting events to the loop ----
_served_loop: asyncio.AbstractEventLoop | None = None
_collecting = threading.local()


def serve_from(loop: asyncio.AbstractEventLoop) -> None:
    """Consumers call this on connect: events committed in any thread go out on `loop`."""
    global _served_loop
    _served_loop = loop
    outbox_for(loop)


@contextlib.contextmanager
def collecting():
    """Keep this thread's events in a list instead of waking the loop for each."""
    events: list[tuple[str, dict, bool]] = []
    _collecting.events = events
    try:
        yield events
    finally:
        _collecting.events = None


def hand_over(events: list[tuple[str, dict, bool]], then: Callable[[], None]) -> bool:
    """Deliver collected events on the served loop, then run `then` there, in one wake-up.
    False (nothing done) when no loop serves sockets here."""
    outbox = existing_outbox(_served_loop)

    def on_loop() -> None:
        outbox.put_many(events)
        then()

    if outbox is not None and outbox.loop.is_running():
        try:
            outbox.loop.call_soon_threadsafe(on_loop)
            return True
        except RuntimeError:  # the loop closed meanwhile
            pass
    for event in events:
        _send(*event)
    return False


def served_loop() -> asyncio.AbstractEventLoop | None:
    return _served_loop


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of this thread, or None in a worker thread."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _send(group: str, payload: dict, remote: bool = True) -> None:
    here = running_loop()
    if here is not None:
        outbox_for(here).put(group, payload, remote)
        return
    events = getattr(_collecting, "events", None)
    if events is not None:
        events.append((group, payload, remote))
        return
    outbox = existing_outbox(_served_loop)
    if outbox is not None and outbox.loop.is_running():
        outbox.loop.call_soon_threadsafe(outbox.put, group, payload, remote)
    else:
        # No sockets served here (management commands, sync tests): send and wait.
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, {"type": "hub.event", "payload": payload})
