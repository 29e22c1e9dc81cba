"""The customer's WebSocket: one per open widget.

Protocol (JSON frames):
  → hello {token?, last_seq?, metadata?, site?} ← welcome {conversation, token, status}, replay
  → message {client_id, text}              ← ack {client_id, seq, duplicate} after it is stored
  → typing {active}   → end {}   → rate {score, comment?}
                                            ← message / status / queue / typing / error frames
"""

import asyncio
import json
import logging
import uuid

from channels.db import database_sync_to_async
from django.db import DatabaseError

from handoff_hub import frames, group_commit, lifecycle, listeners, live, write_batch
from handoff_hub.bot_turns import HiddenMessage, session_start_message, silence_message
from handoff_hub.customer_actions import rate_conversation
from handoff_hub.messaging import StoredMessage, replay_since, store_incoming
from handoff_hub.models import Conversation
from handoff_hub.queue_stats import position_frame
from handoff_hub.realtime import (
    customer_group,
    layer_is_shared,
    send_now,
    serve_from,
    watchers_group,
)
from handoff_hub.socket_turns import SocketTurns
from handoff_hub.sockets import HubConsumer
from handoff_hub.status import FINISHED, ConversationStatus
from handoff_hub.tokens import (
    issue_customer_token,
    read_customer_token,
    verify_customer_identity,
)
from handoff_hub.transitions import TransitionError, end_chat_by_customer

logger = logging.getLogger(__name__)


def _standing_of(conversation_id: int) -> tuple[str | None, dict | None]:
    """A chat's status now, and its queue-position frame if it is waiting."""
    conversation = Conversation.objects.filter(pk=conversation_id).only("status", "queue").first()
    if conversation is None:
        return None, None
    return conversation.status, position_frame(conversation)


def read_in_thread(function):
    """Reads of the socket path in the shared worker threads, not Channels' single DB thread
    (a reconnect storm of thousands of widgets would queue behind one thread)."""
    return database_sync_to_async(function, thread_sensitive=False)


def _new_conversation(
    public_id: uuid.UUID, metadata: dict, customer_id: str, site: str
) -> Conversation:
    # Created with this process as a listener: its socket already joined the chat's group.
    heard_by = [listeners.key(listeners.CUSTOMER)] if layer_is_shared() else []
    return write_batch.create_conversation(
        public_id=public_id,
        customer_metadata=metadata,
        customer_id=customer_id,
        site=site,
        listeners=heard_by,
    )


class TryAgain(frames.FrameError):
    """The hub could not store the message (e.g. the database is away): nothing was kept."""

    def __init__(self, ref: str | None):
        super().__init__("try_again", "We could not send that just now. Trying again…", ref)


class CustomerConsumer(HubConsumer):
    # Customer handlers reach the database only through worker threads that manage their
    # own connections (group commit, engine pool, read_in_thread).
    refresh_connections_on = frozenset()
    conversation: Conversation | None = None
    # The highest seq and the status this socket was sent, to catch up after the channel
    # layer failed.
    last_seq_sent = 0
    status_sent = ""
    position_sent: dict | None = None

    async def connect(self) -> None:
        self.turns = SocketTurns()
        serve_from(asyncio.get_running_loop())
        live.register(self)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        live.unregister(self)
        await self._leave_chat()

    async def _leave_chat(self) -> None:
        if self.conversation is not None:
            conversation, self.conversation = self.conversation, None
            await self.leave_group(
                customer_group(conversation.public_id), conversation.pk, listeners.CUSTOMER
            )

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        try:
            frame = frames.parse_frame(text_data, bytes_data)
            handler = self._handlers().get(frame["type"])
            if handler is None:
                raise frames.FrameError("unknown_type", f"Unknown frame type '{frame['type']}'.")
            await handler(frame)
        except frames.FrameError as error:
            await self.send_json(error.as_frame())
        except Exception:
            logger.exception("Customer frame failed")
            await self.send_json(
                {"type": "error", "code": "try_again", "message": "Please try again in a moment."}
            )

    def _handlers(self) -> dict:
        return {
            "hello": self.on_hello,
            "message": self.on_message,
            "typing": self.on_typing,
            "end": self.on_end,
            "silence": self.on_silence,
            "rate": self.on_rate,
            "ping": self.on_ping,
        }

    async def on_ping(self, frame: dict) -> None:
        await self.send_json({"type": "pong"})

    async def on_hello(self, frame: dict) -> None:
        token = frames.optional_str(frame, "token", 500)
        last_seq = frames.non_negative_int(frame, "last_seq")
        metadata = frame.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise frames.FrameError("bad_field", "'metadata' must be an object.")
        if len(json.dumps(metadata, default=str)) > 4000:
            raise frames.FrameError("bad_field", "'metadata' is too large.")
        try:
            customer_id = verify_customer_identity(frame.get("identity"))
        except ValueError as error:
            raise frames.FrameError("invalid_identity", str(error)) from None
        if not token and customer_id:
            # A verified customer continues their open chat on any device.
            open_chat = await self._open_chat_of(customer_id)
            if open_chat is not None:
                token = issue_customer_token(open_chat.public_id)
        created = not token
        if token:
            public_id = read_customer_token(token)
            if public_id is None:
                raise frames.FrameError("invalid_token", "This chat session is not valid.")
            conversation = await read_in_thread(
                Conversation.objects.filter(public_id=public_id).first
            )()
            if conversation is None:
                raise frames.FrameError("invalid_token", "This chat no longer exists.")
            if customer_id and conversation.customer_id not in ("", customer_id):
                raise frames.FrameError("invalid_identity", "This chat belongs to someone else.")
        else:
            conversation = await self._open_new_chat(metadata, customer_id, frames.site_key(frame))
            token = issue_customer_token(conversation.public_id)
            last_seq = 0
        if self.conversation is None or self.conversation.pk != conversation.pk:
            await self._leave_chat()
            # Join before reading the backlog so nothing falls between replay and live events.
            await self.join_group(
                customer_group(conversation.public_id), conversation.pk, listeners.CUSTOMER
            )
        self.conversation = conversation
        await self.send_json(
            {
                "type": "welcome",
                "conversation": str(conversation.public_id),
                "token": token,
                "status": conversation.status,
            }
        )
        self.last_seq_sent = last_seq
        self.status_sent = conversation.status
        self.position_sent = None
        if created:  # its first turn need not read the row back
            self.turns.new_chat(conversation.tracker_version)
        else:
            self.turns.forget()
        if not created:  # a new chat has nothing to replay
            await self._replay(last_seq)
            # The welcome's status was read before the socket joined: a change committed in
            # between is in no backlog, so where the chat stands is read again now. Queue
            # positions are not replayed either: a widget back after a reload or on another
            # process learns its own now, not at the queue's next change.
            status, position = await read_in_thread(_standing_of)(conversation.pk)
            if status is not None and status != self.status_sent:
                await self._send_status(status)
            if position is not None:
                await self._send_position(position)
        if created and frame.get("start") is True:
            await self._start_session(conversation)

    async def _open_new_chat(self, metadata: dict, customer_id: str, site: str) -> Conversation:
        """Create a chat this socket already listens to: the row names this process as a
        listener, so another process may publish to it the moment it commits, and a new chat
        replays nothing (see handoff_hub.listeners)."""
        await self._leave_chat()
        public_id = uuid.uuid4()
        group = customer_group(public_id)
        # noted: the row is created with this process's entry, once the socket listens.
        await self.join_group(group, None, listeners.CUSTOMER, noted=True)
        try:
            # In the group commit: a burst of new visitors shares commits.
            conversation = await group_commit.submit(
                _new_conversation, public_id, metadata, customer_id or "", site
            )
        except BaseException:
            # Usually no row was created; if the socket went away while the create was queued,
            # the row may exist with our listener entry, which costs a publish nobody hears.
            await self.leave_group(group)
            raise
        self.conversation = conversation
        return conversation

    async def _start_session(self, conversation: Conversation) -> None:
        """A new chat the widget opened (`hello` with `start: true`): the bot may speak first."""
        opener = await read_in_thread(session_start_message)(conversation)
        if opener is not None:
            await self._store_hidden_and_answer(conversation, opener)

    async def _store_hidden_and_answer(self, conversation, hidden: HiddenMessage) -> None:
        async with lifecycle.tracked():
            stored = await self._store(conversation, hidden.text, hidden.client_id, hidden.data)
            if stored.created:
                await self.turns.answer(conversation, stored)

    async def _replay(self, after_seq: int) -> None:
        for message in await read_in_thread(replay_since)(self.conversation.pk, after_seq):
            await self._send_message(message)

    async def _send_message(self, frame: dict) -> None:
        self.last_seq_sent = max(self.last_seq_sent, frame.get("seq") or 0)
        await self.send_json(frame)

    def missed(self, head: tuple[str, int] | None) -> bool:
        """Did this socket miss something of its conversation's (status, last_seq)?"""
        return head is not None and (head[0] != self.status_sent or head[1] > self.last_seq_sent)

    async def resync(self, head: tuple[str, int]) -> None:
        """Live events were lost (the channel layer failed): catch up from the database."""
        status, last_seq = head
        if status != self.status_sent:
            await self._send_status(status)
        if last_seq > self.last_seq_sent:
            await self._replay(self.last_seq_sent)

    async def _send_status(self, status: str) -> None:
        self.status_sent = status
        self.position_sent = None  # queued again later: its position is news again
        await self.send_json({"type": "status", "status": status})

    async def _send_position(self, frame: dict) -> None:
        # Every change of a queue tells each waiting chat where it stands, but most stand
        # where they stood (a chat joining at the back moves nobody): a frame this socket
        # already sent is not encoded and sent again.
        if frame == self.position_sent:
            return
        self.position_sent = frame
        await self.send_json(frame)

    async def on_message(self, frame: dict) -> None:
        conversation = self._require_conversation()
        text = frames.message_text(frame)
        client_id = frames.optional_str(frame, "client_id", 64)
        # A button press sends its payload; its title is what the customer saw themselves say.
        title = frames.optional_str(frame, "title", 200)
        async with lifecycle.tracked():
            # The bot's turn starts now, beside the store (handoff_hub.early_turns).
            early = self.turns.start_early(conversation, text) if self._with_bot() else None
            stored = await self._store(
                conversation, text, client_id, {"title": title} if title else None, early
            )
            # Acknowledged only now: the message is committed.
            await self.send_json(
                {
                    "type": "ack",
                    "client_id": client_id,
                    "seq": stored.message.seq,
                    "duplicate": not stored.created,
                }
            )
            if stored.created or stored.unanswered:
                await self.turns.answer(conversation, stored, early)

    def _with_bot(self) -> bool:
        """As far as this socket was told, the chat is with the bot."""
        return self.status_sent == ConversationStatus.BOT

    async def _store(self, conversation, text, client_id, data, early=None) -> StoredMessage:
        try:
            if early is not None:  # stored with the bot's answer if it is ready in time
                stored = await early.store(conversation.pk, text, client_id, data)
                if stored is not None:
                    return stored
            return await group_commit.submit(
                store_incoming,
                conversation.pk,
                text,
                client_id,
                data,
                order_key=conversation.pk,
                client_id=client_id,
            )
        except DatabaseError as error:
            logger.warning("Could not store a message of %s: %s", conversation.public_id, error)
            raise TryAgain(client_id) from None

    async def on_silence(self, frame: dict) -> None:
        """The customer went quiet: a bot that knows `silence_timeout` may check in."""
        conversation = self._require_conversation()
        client_id = frames.optional_str(frame, "client_id", 64)
        check_in = await read_in_thread(silence_message)(conversation.pk, client_id)
        if check_in is not None:
            await self._store_hidden_and_answer(conversation, check_in)

    async def on_end(self, frame: dict) -> None:
        conversation = self._require_conversation()
        try:
            await database_sync_to_async(end_chat_by_customer)(conversation.pk)
        except TransitionError as error:
            raise frames.FrameError(error.code, error.message) from None

    async def on_rate(self, frame: dict) -> None:
        conversation = self._require_conversation()
        comment = frames.optional_str(frame, "comment", 2000) or ""
        try:
            await database_sync_to_async(rate_conversation)(
                conversation.pk, frame.get("score"), comment
            )
        except ValueError as error:
            raise frames.FrameError("bad_field", str(error)) from None
        await self.send_json({"type": "rated", "score": frame["score"]})

    async def on_typing(self, frame: dict) -> None:
        conversation = self._require_conversation()
        payload = {
            "type": "typing",
            "conversation": str(conversation.public_id),
            "sender": "customer",
            "active": bool(frame.get("active")),
        }
        send_now(watchers_group(conversation.public_id), payload)

    async def _open_chat_of(self, customer_id: str) -> Conversation | None:
        chats = Conversation.objects.filter(channel="web", customer_id=customer_id)
        latest = chats.exclude(status__in=FINISHED).order_by("-updated_at")
        return await read_in_thread(latest.first)()

    def _require_conversation(self) -> Conversation:
        if self.conversation is None:
            raise frames.FrameError("hello_first", "Say hello with your session token first.")
        return self.conversation

    async def on_live_event(self, payload: dict) -> None:
        kind = payload.get("type")
        if kind == "message":
            await self._send_message(payload)
        elif kind == "status":
            await self._send_status(payload["status"])
        elif kind == "queue":
            await self._send_position(payload)
        else:
            await self.send_json(payload)
