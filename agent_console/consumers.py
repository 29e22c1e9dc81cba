"""The agent's WebSocket: live queue, open conversations, and agent actions.

Protocol (JSON frames):
  ← snapshot {conversations}               on connect, then `conversation` updates
  → open {conversation, last_seq?}         ← transcript {conversation, messages, ticket}
  → claim / resolve / return_to_bot {conversation}
  → reply {conversation, client_id, text}  ← ack {client_id, seq}
  → typing {conversation, active}
"""

import asyncio
import logging
import time
import uuid

from channels.db import database_sync_to_async
from django.conf import settings

from handoff_hub import frames, listeners
from handoff_hub.agent_actions import (
    add_private_note,
    conversations_visible_to,
    notes_of,
    send_agent_message,
)
from handoff_hub.agents import go_offline_if_silent, set_agent_status, touch_agent
from handoff_hub.messaging import replay_since
from handoff_hub.models import AgentProfile, Conversation, Queue
from handoff_hub.presenters import conversation_summary, ticket_details
from handoff_hub.realtime import CONSOLE_GROUP, customer_group, send_now, watchers_group
from handoff_hub.sockets import HubConsumer
from handoff_hub.status import AgentStatus, ConversationStatus
from handoff_hub.transitions import (
    TransitionError,
    claim_conversation,
    resolve_conversation,
    return_to_bot,
    transfer_to_agent,
    transfer_to_queue,
)

logger = logging.getLogger(__name__)

_ACTIVE = [ConversationStatus.QUEUED, ConversationStatus.ASSIGNED]
_ENDED = [ConversationStatus.RESOLVED, ConversationStatus.ABANDONED, ConversationStatus.CLOSED]
TOUCH_EVERY_SECONDS = 5
# How stale an agent's list of queues may be when filtering live events (see _may_see).
VISIBILITY_SECONDS = 15


def _queues_seen_by(user) -> frozenset[str] | None:
    """The names of the queues whose chats the agent sees; None: a supervisor sees all."""
    from handoff_hub.agent_actions import is_supervisor

    if is_supervisor(user):
        return None
    return frozenset(Queue.objects.filter(agents__user=user).values_list("name", flat=True))


def _come_online(user) -> str:
    """Opening the console makes an offline agent available; 'away' is left as chosen."""
    profile = AgentProfile.objects.get(user=user)
    if profile.status == AgentStatus.OFFLINE:
        profile = set_agent_status(user, AgentStatus.ONLINE)
    return profile.status


async def _offline_if_still_silent(user_id: int, grace: float) -> None:
    await asyncio.sleep(grace)
    try:
        await database_sync_to_async(go_offline_if_silent)(user_id, grace)
    except Exception:
        logger.exception("Could not check whether agent %s went silent", user_id)


class AgentConsumer(HubConsumer):
    # Agent frames are few and use the async ORM; live events only write to the socket.
    refresh_connections_on = frozenset({"websocket.connect", "websocket.receive"})

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not await AgentProfile.objects.filter(user=user).aexists():
            await self.close(code=4403)
            return
        self.user = user
        self.scope_read_at: float | None = None
        self.queue_scope: frozenset[str] | None = None
        self.watching: dict[str, int] = {}  # public id → conversation id
        self.last_touch = 0.0
        await self.accept()
        await self._touch()
        status = await database_sync_to_async(_come_online)(user)
        await self.send_json({"type": "my_status", "status": status})
        await self.join_group(CONSOLE_GROUP)
        await self.send_json({"type": "snapshot", "conversations": await self._snapshot()})

    async def disconnect(self, code: int) -> None:
        user = getattr(self, "user", None)
        if user is not None:
            # If no console of this agent speaks up within the grace period, their chats go
            # back to the queue: an agent who closed the laptop must not hold customers.
            grace = settings.HUB["AGENT_SILENCE_SECONDS"]
            asyncio.get_running_loop().create_task(_offline_if_still_silent(user.pk, grace))
        await self.leave_group(CONSOLE_GROUP)
        for public_id, conversation_id in getattr(self, "watching", {}).items():
            await self.leave_group(watchers_group(public_id), conversation_id, listeners.WATCHER)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        frame: dict = {}
        try:
            await self._touch()
            frame = frames.parse_frame(text_data, bytes_data)
            handler = self._handlers().get(frame["type"])
            if handler is None:
                raise frames.FrameError("unknown_type", f"Unknown frame type '{frame['type']}'.")
            await handler(frame)
        except frames.FrameError as error:
            await self.send_json(error.as_frame())
        except TransitionError as error:
            await self.send_json(
                {
                    "type": "error",
                    "code": error.code,
                    "message": error.message,
                    "ref": frames.frame_ref(frame),
                }
            )
        except Exception:
            logger.exception("Agent frame failed")
            await self.send_json(
                {"type": "error", "code": "try_again", "message": "Please try again in a moment."}
            )

    def _handlers(self) -> dict:
        return {
            "open": self.on_open,
            "claim": self.on_claim,
            "reply": self.on_reply,
            "resolve": self.on_resolve,
            "return_to_bot": self.on_return_to_bot,
            "typing": self.on_typing,
            "note": self.on_note,
            "transfer": self.on_transfer,
            "status": self.on_status,
            "ping": self.on_ping,
        }

    async def on_ping(self, frame: dict) -> None:
        await self.send_json({"type": "pong"})

    async def _touch(self) -> None:
        now = time.monotonic()
        if now - self.last_touch > TOUCH_EVERY_SECONDS:
            self.last_touch = now
            await database_sync_to_async(touch_agent)(self.user)

    async def on_open(self, frame: dict) -> None:
        conversation = await self._visible_conversation(frame)
        last_seq = frames.non_negative_int(frame, "last_seq")
        public_id = str(conversation.public_id)
        if public_id not in self.watching:
            # Noted as a listener before the transcript is read: nothing falls in between.
            await self.join_group(watchers_group(public_id), conversation.pk, listeners.WATCHER)
            self.watching[public_id] = conversation.pk
        await self.send_json(await database_sync_to_async(self._transcript)(conversation, last_seq))

    async def on_claim(self, frame: dict) -> None:
        conversation = await self._visible_conversation(frame)
        await database_sync_to_async(claim_conversation)(conversation.pk, self.user)

    async def on_resolve(self, frame: dict) -> None:
        conversation = await self._visible_conversation(frame)
        await database_sync_to_async(resolve_conversation)(conversation.pk, self.user)

    async def on_return_to_bot(self, frame: dict) -> None:
        conversation = await self._visible_conversation(frame)
        slots = frame.get("slots") or {}
        if not isinstance(slots, dict):
            raise frames.FrameError("bad_field", "'slots' must be an object.")
        await database_sync_to_async(return_to_bot)(conversation.pk, self.user, slots)

    async def on_reply(self, frame: dict) -> None:
        conversation = await self._visible_conversation(frame)
        text = frames.message_text(frame)
        client_id = frames.optional_str(frame, "client_id", 64)
        message, created = await database_sync_to_async(send_agent_message)(
            conversation.pk, self.user, text, client_id
        )
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "seq": message.seq,
                "conversation": str(conversation.public_id),
                "duplicate": not created,
            }
        )

    async def on_note(self, frame: dict) -> None:
        conversation = await self._visible_conversation(frame)
        text = frames.message_text(frame)
        await database_sync_to_async(add_private_note)(conversation.pk, self.user, text)

    async def on_transfer(self, frame: dict) -> None:
        conversation = await self._visible_conversation(frame)
        note = frames.optional_str(frame, "note", 2000) or ""
        agent_id, queue_id = frame.get("agent"), frame.get("queue")
        if isinstance(agent_id, int):
            target = (
                await AgentProfile.objects.select_related("user").filter(user_id=agent_id).afirst()
            )
            if target is None:
                raise frames.FrameError("not_found", "No such agent.")
            transfer, to = transfer_to_agent, target.user
        elif isinstance(queue_id, int):
            to = await Queue.objects.filter(pk=queue_id).afirst()
            if to is None:
                raise frames.FrameError("not_found", "No such queue.")
            transfer = transfer_to_queue
        else:
            raise frames.FrameError("bad_field", "Give the 'agent' or 'queue' id to transfer to.")
        await database_sync_to_async(transfer)(conversation.pk, self.user, to, note)

    async def on_status(self, frame: dict) -> None:
        status = frame.get("status")
        if status not in AgentStatus.values:
            raise frames.FrameError("bad_field", "'status' must be online, away or offline.")
        await database_sync_to_async(set_agent_status)(self.user, status)
        await self.send_json({"type": "my_status", "status": status})

    async def on_typing(self, frame: dict) -> None:
        conversation = await self._visible_conversation(frame)
        payload = {"type": "typing", "sender": "agent", "active": bool(frame.get("active"))}
        send_now(customer_group(conversation.public_id), payload)

    async def _visible_conversation(self, frame: dict) -> Conversation:
        public_id = frames.optional_str(frame, "conversation", 64)
        if not public_id:
            raise frames.FrameError("bad_field", "'conversation' is required.")
        try:
            uuid.UUID(public_id)
        except ValueError:
            raise frames.FrameError("not_found", "No such conversation.") from None
        conversation = await database_sync_to_async(self._visible)(public_id)
        if conversation is None:
            raise frames.FrameError("not_found", "No such conversation.")
        return conversation

    def _visible(self, public_id: str) -> Conversation | None:
        return conversations_visible_to(self.user).filter(public_id=public_id).first()

    @database_sync_to_async
    def _snapshot(self) -> list[dict]:
        """Active chats the agent may see, plus their most recently ended ones."""
        visible = conversations_visible_to(self.user)
        active = visible.filter(status__in=_ACTIVE).order_by("updated_at")[:500]
        ended = visible.filter(status__in=_ENDED).order_by("-updated_at")[:50]
        return [conversation_summary(c) for c in [*active, *ended]]

    def _transcript(self, conversation: Conversation, last_seq: int) -> dict:
        return {
            "type": "transcript",
            "conversation": conversation_summary(conversation),
            "messages": replay_since(conversation.pk, last_seq, limit=2000),
            "ticket": ticket_details(conversation.tickets.order_by("-enqueued_at").first()),
            "customer_metadata": conversation.customer_metadata,
            "notes": notes_of(conversation.pk),
        }

    async def on_live_event(self, payload: dict) -> None:
        if payload.get("type") == "conversation" and not await self._may_see(payload):
            return
        await self.send_json(payload)

    async def _may_see(self, payload: dict) -> bool:
        """The visibility rule of `conversations_visible_to`, applied to the summary itself.

        Every agent gets every console event, so asking the database here cost one query per
        agent per event; the agent's queues are re-read at most every VISIBILITY_SECONDS.
        """
        summary = payload["conversation"]
        scope = await self._visibility()
        if scope is None:
            return True  # supervisors see everything
        if summary.get("assigned_agent_id") == self.user.pk:
            return True
        return summary.get("queue") is None or summary.get("queue") in scope

    async def _visibility(self) -> frozenset[str] | None:
        now = time.monotonic()
        if self.scope_read_at is None or now - self.scope_read_at > VISIBILITY_SECONDS:
            self.queue_scope = await database_sync_to_async(_queues_seen_by)(self.user)
            self.scope_read_at = now
        return self.queue_scope
