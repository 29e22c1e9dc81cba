"""Conversation statuses and who may send messages in each.

The transition table itself lives in `handoff_hub.transitions`; this module only names things.
"""

from django.db import models


class ConversationStatus(models.TextChoices):
    BOT = "bot", "With the bot"
    QUEUED = "queued", "Waiting for an agent"
    ASSIGNED = "assigned", "With an agent"
    RESOLVED = "resolved", "Resolved"
    ABANDONED = "abandoned", "Abandoned"
    CLOSED = "closed", "Closed"


# Statuses in which a human owns the conversation: the bot must never answer.
HUMAN_SIDE = frozenset({ConversationStatus.QUEUED, ConversationStatus.ASSIGNED})
# Statuses a customer can no longer write into without starting over.
FINISHED = frozenset(
    {ConversationStatus.RESOLVED, ConversationStatus.ABANDONED, ConversationStatus.CLOSED}
)


class Sender(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    BOT = "bot", "Bot"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class AgentStatus(models.TextChoices):
    ONLINE = "online", "Online"
    AWAY = "away", "Away"
    OFFLINE = "offline", "Offline"


class RoutingMode(models.TextChoices):
    MANUAL = "manual", "Agents claim chats themselves"
    LEAST_BUSY = "least_busy", "Assign to the least busy online agent"
    ROUND_ROBIN = "round_robin", "Assign in turn"


class NoAgentBehaviour(models.TextChoices):
    QUEUE = "queue", "Queue anyway, with an honest wait estimate"
    LEAVE_MESSAGE = "leave_message", "Take a message for later (offline ticket)"
    BACK_TO_BOT = "back_to_bot", "Stay with the bot and say nobody is available"


class HandoffReason(models.TextChoices):
    EXPLICIT_REQUEST = "explicit_request", "Customer asked for a human"
    TWO_STAGE_FALLBACK = "two_stage_fallback", "Two-stage fallback exhausted"
    CORE_FALLBACK = "core_fallback", "Bot was unsure what to do"
    PATTERN = "pattern", "Conversation pattern"
    CUSTOM_ACTION = "custom_action", "Custom action"
    BOT_ERROR = "bot_error", "Bot failed"
    MANUAL = "manual", "Started by staff"
