from rest_framework import serializers

from handoff_hub.models import (
    AgentProfile,
    CannedResponse,
    Conversation,
    HandoffTicket,
    Message,
    PrivateNote,
    Queue,
)
from handoff_hub.presenters import agent_name


class MessageSerializer(serializers.ModelSerializer):
    agent_name = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["seq", "sender", "text", "data", "client_id", "agent_name", "created_at"]

    def get_agent_name(self, message) -> str | None:
        return agent_name(message.agent)


class TicketSerializer(serializers.ModelSerializer):
    queue = serializers.StringRelatedField()
    agent = serializers.SerializerMethodField()

    class Meta:
        model = HandoffTicket
        fields = [
            "id",
            "queue",
            "reason",
            "priority",
            "bot_context",
            "summary",
            "agent",
            "enqueued_at",
            "assigned_at",
            "first_response_at",
            "resolved_at",
        ]

    def get_agent(self, ticket) -> str | None:
        return agent_name(ticket.agent)


class ConversationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    queue = serializers.StringRelatedField()
    assigned_agent = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "channel",
            "customer_id",
            "status",
            "queue",
            "assigned_agent",
            "last_seq",
            "rating",
            "created_at",
            "updated_at",
        ]

    def get_assigned_agent(self, conversation) -> str | None:
        return agent_name(conversation.assigned_agent)


class ConversationDetailSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True, read_only=True)
    tickets = TicketSerializer(many=True, read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "customer_metadata", "messages", "tickets"]


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = PrivateNote
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]

    def get_author(self, note) -> str | None:
        return agent_name(note.author)


class ReplySerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)
    client_id = serializers.CharField(max_length=64, required=False, allow_null=True)


class TransferSerializer(serializers.Serializer):
    agent = serializers.IntegerField(required=False, help_text="User id of the target agent.")
    queue = serializers.IntegerField(required=False, help_text="Id of the target queue.")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, data):
        if ("agent" in data) == ("queue" in data):
            raise serializers.ValidationError("Give exactly one of 'agent' or 'queue'.")
        return data


class ReturnToBotSerializer(serializers.Serializer):
    slots = serializers.DictField(required=False, default=dict)


class QueueSerializer(serializers.ModelSerializer):
    waiting = serializers.IntegerField(read_only=True)
    oldest_wait_seconds = serializers.IntegerField(read_only=True, allow_null=True)
    agents_online = serializers.IntegerField(read_only=True)
    free_capacity = serializers.IntegerField(read_only=True)

    class Meta:
        model = Queue
        fields = [
            "id",
            "name",
            "description",
            "routing_mode",
            "is_default",
            "waiting",
            "oldest_wait_seconds",
            "agents_online",
            "free_capacity",
        ]


class AgentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    name = serializers.CharField(read_only=True)
    queues = serializers.StringRelatedField(many=True, read_only=True)

    class Meta:
        model = AgentProfile
        fields = ["id", "username", "name", "status", "capacity", "is_supervisor", "queues"]
        read_only_fields = ["capacity", "is_supervisor"]


class CannedResponseSerializer(serializers.ModelSerializer):
    class Meta:
        model = CannedResponse
        fields = ["id", "shortcut", "text", "queue"]
