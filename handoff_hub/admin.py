import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from handoff_hub import trackers
from handoff_hub.models import (
    AgentProfile,
    AuditEvent,
    CannedResponse,
    Conversation,
    HandoffTicket,
    Message,
    PrivateNote,
    Queue,
    Webhook,
    WebhookDelivery,
)
from handoff_hub.transitions import HUMAN as HUMAN_STATUSES
from handoff_hub.transitions import (
    TransitionError,
    check_transfer_to_queue,
    requeue_conversation,
    resolve_conversation,
    return_to_bot,
    transfer_to_queue,
)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("seq", "sender", "text", "agent", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("seq",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class AuditInline(admin.TabularInline):
    model = AuditEvent
    fields = ("created_at", "action", "from_status", "to_status", "actor", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _run_transition(modeladmin, request, queryset, transition, label: str) -> None:
    """Admin actions go through the same state machine as the console."""
    done, refused = 0, []
    for conversation in queryset:
        try:
            transition(conversation.pk, request.user)
            done += 1
        except TransitionError as error:
            refused.append(f"{conversation.public_id}: {error.message}")
    if done:
        modeladmin.message_user(request, f"{label}: {done} conversation(s).", messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, messages.WARNING)


@admin.action(description="Resolve selected conversations")
def resolve_selected(modeladmin, request, queryset):
    _run_transition(modeladmin, request, queryset, resolve_conversation, "Resolved")


@admin.action(description="Re-queue selected conversations (take them from their agent)")
def requeue_selected(modeladmin, request, queryset):
    _run_transition(modeladmin, request, queryset, requeue_conversation, "Re-queued")


@admin.action(description="Return selected conversations to the bot")
def return_selected_to_bot(modeladmin, request, queryset):
    _run_transition(modeladmin, request, queryset, return_to_bot, "Returned to the bot")


class ConversationForm(forms.ModelForm):
    """Moving a chat with a human to another queue is a transfer: the form refuses one the
    state machine would refuse, so nothing of the edit is saved."""

    editor = None  # the admin user, set on the per-request class by ConversationAdmin.get_form

    def clean(self) -> dict:
        cleaned = super().clean()
        if "queue" not in self.changed_data or self.instance.status not in HUMAN_STATUSES:
            return cleaned
        if cleaned.get("queue") is None:
            self.add_error("queue", "A chat waiting for or talking to an agent needs a queue.")
            return cleaned
        try:
            check_transfer_to_queue(self.instance, self.editor)
        except TransitionError as error:
            self.add_error("queue", error.message)
        return cleaned


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("public_id", "status", "channel", "queue", "assigned_agent", "updated_at")
    list_filter = (
        "status",
        "channel",
        "site",
        "queue",
        "tickets__reason",
        "assistant_version",
        "created_at",
    )
    actions = [resolve_selected, requeue_selected, return_selected_to_bot]
    search_fields = ("public_id", "customer_id", "messages__text")
    readonly_fields = (
        "public_id",
        "status",
        "assigned_agent",
        "tracker",
        "tracker_version",
        "last_seq",
        "listeners",
        "site",
        "assistant_version",
        "assistant_fingerprint",
        "created_at",
        "updated_at",
    )
    # Stored as a snapshot plus each later turn's events: shown whole (`tracker`), never edited.
    exclude = ("tracker_state", "tracker_base_version")
    inlines = [MessageInline, AuditInline]
    form = ConversationForm

    @admin.display(description="Tracker")
    def tracker(self, obj) -> str:
        # Escaped by the admin like any read-only value.
        return json.dumps(trackers.load(obj), indent=2, ensure_ascii=False)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        form_class.editor = request.user  # a class of its own per call (modelform_factory)
        return form_class

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Only the columns the form changed: the message path keeps writing this row (seq,
        # tracker, listeners) under its lock, and a whole-row save would put back stale values.
        changed = list(form.changed_data)
        # A chat with a human moves queues as a transfer (audit row, queue positions, dispatch),
        # first: refused, nothing of the edit may be saved.
        if "queue" in changed and obj.status in HUMAN_STATUSES:
            changed.remove("queue")
            try:
                transfer_to_queue(obj.pk, request.user, obj.queue)
            except TransitionError as error:
                # The form checked it; only a change landing between the check and the row
                # lock (another agent claimed the chat, say) gets here.
                raise _EditRefused(error.message) from None
        if changed:
            obj.save(update_fields=[*changed, "updated_at"])
        return None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _EditRefused as refused:  # the view's transaction has rolled the edit back
            self.message_user(request, f"Nothing was saved: {refused}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class _EditRefused(Exception):
    """The state machine refused the edit under the row lock, after the form allowed it."""


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("conversation", "seq", "sender", "text", "created_at")
    list_filter = ("sender",)
    search_fields = ("text",)
    readonly_fields = ("conversation", "seq", "sender", "text", "data", "client_id", "agent")


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "status", "capacity", "is_supervisor")
    list_filter = ("status", "is_supervisor", "queues")
    filter_horizontal = ("queues",)


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ("name", "routing_mode", "is_default")


@admin.register(HandoffTicket)
class HandoffTicketAdmin(admin.ModelAdmin):
    list_display = ("conversation", "reason", "queue", "agent", "enqueued_at", "resolved_at")
    list_filter = ("reason", "queue")
    readonly_fields = ("conversation", "bot_context")


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "text", "queue")
    search_fields = ("shortcut", "text")


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("url", "events", "is_active", "created_at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "webhook", "attempts", "delivered_at", "failed_at", "last_error")
    list_filter = ("event", "webhook")
    readonly_fields = ("webhook", "event_id", "event", "payload", "attempts", "last_error")


@admin.register(PrivateNote)
class PrivateNoteAdmin(admin.ModelAdmin):
    list_display = ("conversation", "author", "text", "created_at")
    search_fields = ("text",)


# The assistant lifecycle's admin (assistants, versions, deployments, jobs).
from handoff_hub.assistants import admin as assistants_admin  # noqa: E402, F401
from handoff_hub.assistants import admin_history  # noqa: E402, F401
