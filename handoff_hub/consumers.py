"""The customer's WebSocket: one per open widget.

Protocol (JSON frames):
  → hello {token?, last_seq?, metadata?, site?} ← welcome {conversation, token, status}, replay
  → message {client_id, text}              ← ack {client_id, seq, duplicate} after it is stored
  → typing {active}   → end {}   → rate {score, comment?}
                                            ← message / status / queue / typing / error frames
"""

import json
import logging

from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import close_old_connections

from handoff_hub import frames
from handoff_hub.customer_actions import rate_conversation, receive_customer_message
from handoff_hub.messaging import replay_since
from handoff_hub.models import Conversation
from handoff_hub.realtime import customer_group, watchers_group
from handoff_hub.status import FINISHED
from handoff_hub.tokens import (
    issue_customer_token,
    read_customer_token,
    verify_customer_identity,
)
from handoff_hub.transitions import TransitionError, end_chat_by_customer

logger = logging.getLogger(__name__)
SILENCE_PAYLOAD = "/silence_timeout"


def _bot_handles_silence(conversation_id: int) -> bool:
    from handoff_hub.engine import get_assistant
    from handoff_hub.status import ConversationStatus

    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or conversation.status != ConversationStatus.BOT:
        return False
    return "silence_timeout" in get_assistant(conversation).domain.intent_names


def _receive_in_worker(
    conversation_id: int, text: str, client_id: str | None, ack, data: dict | None
) -> None:
    """Store, acknowledge, then run the bot — in a worker thread, off the event loop."""
    close_old_connections()
    try:
        receive_customer_message(conversation_id, text, client_id, on_stored=ack, data=data)
    finally:
        close_old_connections()


class CustomerConsumer(AsyncJsonWebsocketConsumer):
    conversation: Conversation | None = None

    async def connect(self) -> None:
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.conversation is not None:
            await self.channel_layer.group_discard(
                customer_group(self.conversation.public_id), self.channel_name
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
        if token:
            public_id = read_customer_token(token)
            if public_id is None:
                raise frames.FrameError("invalid_token", "This chat session is not valid.")
            conversation = await Conversation.objects.filter(public_id=public_id).afirst()
            if conversation is None:
                raise frames.FrameError("invalid_token", "This chat no longer exists.")
            if customer_id and conversation.customer_id not in ("", customer_id):
                raise frames.FrameError("invalid_identity", "This chat belongs to someone else.")
        else:
            conversation = await Conversation.objects.acreate(
                customer_metadata=metadata,
                customer_id=customer_id or "",
                site=frames.site_key(frame),
            )
            token = issue_customer_token(conversation.public_id)
            last_seq = 0
        if self.conversation is not None and self.conversation.pk != conversation.pk:
            await self.channel_layer.group_discard(
                customer_group(self.conversation.public_id), self.channel_name
            )
        self.conversation = conversation
        # Join before reading the backlog so nothing falls between replay and live events.
        await self.channel_layer.group_add(
            customer_group(conversation.public_id), self.channel_name
        )
        await self.send_json(
            {
                "type": "welcome",
                "conversation": str(conversation.public_id),
                "token": token,
                "status": conversation.status,
            }
        )
        for message in await database_sync_to_async(replay_since)(conversation.pk, last_seq):
            await self.send_json(message)

    async def on_message(self, frame: dict) -> None:
        conversation = self._require_conversation()
        text = frames.message_text(frame)
        client_id = frames.optional_str(frame, "client_id", 64)
        # A button press sends its payload; its title is what the customer saw themselves say.
        title = frames.optional_str(frame, "title", 200)
        loop_send = async_to_sync(self.send_json)

        def ack(message, created: bool) -> None:
            # Called in the worker right after the message is committed, before the bot runs.
            loop_send(
                {
                    "type": "ack",
                    "client_id": client_id,
                    "seq": message.seq,
                    "duplicate": not created,
                }
            )

        await sync_to_async(_receive_in_worker, thread_sensitive=False)(
            conversation.pk, text, client_id, ack, {"title": title} if title else None
        )

    async def on_silence(self, frame: dict) -> None:
        """The customer went quiet: a bot that knows `silence_timeout` may check in."""
        conversation = self._require_conversation()
        if not await sync_to_async(_bot_handles_silence)(conversation.pk):
            return
        client_id = frames.optional_str(frame, "client_id", 64)
        await sync_to_async(_receive_in_worker, thread_sensitive=False)(
            conversation.pk,
            SILENCE_PAYLOAD,
            client_id,
            lambda message, created: None,
            {"event": "silence_timeout", "hidden": True},
        )

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
        await self.channel_layer.group_send(
            watchers_group(conversation.public_id),
            {
                "type": "hub.event",
                "payload": {
                    "type": "typing",
                    "conversation": str(conversation.public_id),
                    "sender": "customer",
                    "active": bool(frame.get("active")),
                },
            },
        )

    async def _open_chat_of(self, customer_id: str) -> Conversation | None:
        chats = Conversation.objects.filter(channel="web", customer_id=customer_id)
        return await chats.exclude(status__in=FINISHED).order_by("-updated_at").afirst()

    def _require_conversation(self) -> Conversation:
        if self.conversation is None:
            raise frames.FrameError("hello_first", "Say hello with your session token first.")
        return self.conversation

    async def hub_event(self, event: dict) -> None:
        await self.send_json(event["payload"])
