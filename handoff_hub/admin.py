from django.contrib import admin

from handoff_hub.models import (
    AgentProfile,
    AuditEvent,
    Conversation,
    HandoffTicket,
    Message,
    Queue,
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


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("public_id", "status", "channel", "queue", "assigned_agent", "updated_at")
    list_filter = ("status", "channel", "queue")
    search_fields = ("public_id", "customer_id", "messages__text")
    readonly_fields = (
        "public_id",
        "status",
        "assigned_agent",
        "tracker_state",
        "tracker_version",
        "last_seq",
        "assistant_fingerprint",
        "created_at",
        "updated_at",
    )
    inlines = [MessageInline, AuditInline]


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
