"""The hub's domain: conversations, their messages, queues, agents, handoff tickets, audit.

Status fields are changed only by `handoff_hub.transitions`.
"""

import uuid

from django.conf import settings
from django.db import models

from handoff_hub.status import (
    AgentStatus,
    ConversationStatus,
    HandoffReason,
    NoAgentBehaviour,
    RoutingMode,
    Sender,
)


class Queue(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    routing_mode = models.CharField(
        max_length=20, choices=RoutingMode.choices, default=RoutingMode.MANUAL
    )
    is_default = models.BooleanField(
        default=False, help_text="Handoffs with no explicit queue land here."
    )
    # {"mon": ["09:00-17:00"], "sat": ["10:00-14:00"]}; empty means always open.
    business_hours = models.JSONField(default=dict, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    max_waiting = models.PositiveIntegerField(
        null=True, blank=True, help_text="Chats waiting at most; more counts as 'queue full'."
    )
    no_agent_behaviour = models.CharField(
        max_length=20, choices=NoAgentBehaviour.choices, default=NoAgentBehaviour.QUEUE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    display_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=10, choices=AgentStatus.choices, default=AgentStatus.OFFLINE
    )
    capacity = models.PositiveSmallIntegerField(
        default=3, help_text="How many chats this agent handles at once."
    )
    queues = models.ManyToManyField(Queue, related_name="agents", blank=True)
    is_supervisor = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # For round-robin and tie-breaking: whoever waited longest for a chat gets the next one.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.display_name or self.user.get_full_name() or self.user.get_username()


class Conversation(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.CharField(max_length=40, default="web")
    # The widget's `data-site` key: picks the assistant version (see handoff_hub.assistants).
    site = models.CharField(max_length=60, blank=True, default="")
    customer_id = models.CharField(max_length=200, blank=True, db_index=True)
    customer_metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12,
        choices=ConversationStatus.choices,
        default=ConversationStatus.BOT,
        db_index=True,
    )
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL)
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    assistant_fingerprint = models.CharField(max_length=80, blank=True)
    # The assistant version the bot last answered with (empty: HUB_ASSISTANT_PATH).
    assistant_version = models.ForeignKey(
        "hub.AssistantVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    # The tracker as it was after turn `tracker_base_version`; each later turn's events are a
    # TrackerEvents row (handoff_hub.trackers reads the whole tracker).
    tracker_state = models.JSONField(null=True, blank=True)
    tracker_base_version = models.PositiveIntegerField(default=0)
    # Bumped on every bot turn so a turn computed on a stale tracker is detected and redone.
    tracker_version = models.PositiveIntegerField(default=0)
    last_seq = models.PositiveIntegerField(default=0)
    # Hub processes with a live socket on this chat: "customer:<process>" (a widget) and
    # "watcher:<process>" (an agent with it open). A change publishes through Redis only when
    # another process listens (handoff_hub.listeners); a crashed process's entry costs a publish.
    listeners = models.JSONField(default=list, blank=True)
    # The customer's satisfaction rating (1-5) and comment when they end the chat.
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        # Analytics select conversations by the day they started.
        indexes = [models.Index(fields=["created_at"], name="conversation_created_at")]
        permissions = [("view_analytics", "Can view analytics")]

    def __str__(self) -> str:
        return f"Conversation {self.public_id} ({self.status})"


class TrackerEvents(models.Model):
    """The events one bot turn added to its conversation's tracker (as JSON text), so a turn
    writes only what it added instead of the whole, growing tracker."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="tracker_events"
    )
    version = models.PositiveIntegerField()  # the conversation's tracker_version after it
    events = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "version"], name="tracker_events_once_per_version"
            )
        ]
        verbose_name_plural = "tracker events"

    def __str__(self) -> str:
        return f"Tracker events {self.version} of conversation {self.conversation_id}"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveIntegerField()
    sender = models.CharField(max_length=10, choices=Sender.choices)
    text = models.TextField(blank=True)
    # Rasa's rich parts: buttons, image, attachment, custom payload, quick replies.
    data = models.JSONField(default=dict, blank=True)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.sender}: {self.text[:40]}"


class HandoffTicket(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="tickets")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=30, choices=HandoffReason.choices)
    priority = models.SmallIntegerField(default=0)
    # What the bot knew: latest intents with confidences, slots, active flow, summary.
    bot_context = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True)
    # Taken while nobody could answer (outside hours / no agents): follow up later.
    offline = models.BooleanField(default=False)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    enqueued_at = models.DateTimeField(auto_now_add=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-enqueued_at"]

    def __str__(self) -> str:
        return f"Ticket {self.pk} ({self.get_reason_display()})"


class AuditEvent(models.Model):
    """One row per status change of a conversation: who, when, from → to."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="audit_events"
    )
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=12, choices=ConversationStatus.choices)
    to_status = models.CharField(max_length=12, choices=ConversationStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status} → {self.to_status}"


class PrivateNote(models.Model):
    """A note agents leave on a conversation; never shown to the customer."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="private_notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.text[:60]


class CannedResponse(models.Model):
    """A saved reply agents insert with `/shortcut`; `{customer_name}`-style variables allowed."""

    shortcut = models.SlugField(max_length=50, unique=True)
    text = models.TextField()
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every queue."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class Webhook(models.Model):
    """An outgoing webhook: the hub POSTs signed JSON events to `url`."""

    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="Signs each body with HMAC-SHA256.")
    events = models.JSONField(
        default=list, help_text='Event names, e.g. ["handoff.requested"]; empty: all.'
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str) -> bool:
        return self.is_active and (not self.events or event in self.events)


class WebhookDelivery(models.Model):
    """One event to deliver to one webhook; retried with backoff until delivered or given up."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=60)
    payload = models.JSONField()
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook}"


# The assistant lifecycle's models live in their own module but belong to this app.
from handoff_hub.assistants.models import (  # noqa: E402, F401
    Activation,
    Assistant,
    AssistantJob,
    AssistantVersion,
    Deployment,
)
