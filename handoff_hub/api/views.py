"""The REST API: conversations and their tickets, queues with live stats, agents, canned replies.

Every state change goes through `handoff_hub.transitions`; a refused transition is HTTP 409
(403 when it is not the agent's to make) with {"code", "message"}.
"""

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from handoff_hub import transitions
from handoff_hub.agent_actions import (
    add_private_note,
    conversations_visible_to,
    is_supervisor,
    send_agent_message,
)
from handoff_hub.agents import set_agent_status
from handoff_hub.api import serializers as s
from handoff_hub.api.permissions import IsAgent, IsSupervisorOrReadOnly
from handoff_hub.models import AgentProfile, CannedResponse, Conversation, PrivateNote, Queue
from handoff_hub.queue_stats import (
    free_slots,
    oldest_wait_seconds,
    online_slots,
    waiting_conversations,
)
from handoff_hub.status import AgentStatus

FORBIDDEN_CODES = {"not_yours", "not_an_agent"}


def transition_response(call, *args) -> Response:
    try:
        conversation = call(*args)
    except transitions.TransitionError as error:
        code = status.HTTP_403_FORBIDDEN if error.code in FORBIDDEN_CODES else 409
        return Response({"code": error.code, "message": error.message}, status=code)
    return Response(s.ConversationSerializer(conversation).data)


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, description="bot, queued, assigned, resolved, …"),
        OpenApiParameter("queue", int),
        OpenApiParameter("agent", int, description="User id of the assigned agent."),
        OpenApiParameter("search", str, description="Text in a message or the customer id."),
    ]
)
class ConversationViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsAgent]
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Conversation.objects.none()  # schema generation has no user
        conversations = conversations_visible_to(self.request.user)
        params = self.request.query_params
        if params.get("status"):
            conversations = conversations.filter(status=params["status"])
        if params.get("queue", "").isdigit():
            conversations = conversations.filter(queue_id=int(params["queue"]))
        if params.get("agent", "").isdigit():
            conversations = conversations.filter(assigned_agent_id=int(params["agent"]))
        if params.get("search"):
            term = params["search"][:200]
            conversations = conversations.filter(
                Q(customer_id__icontains=term) | Q(messages__text__icontains=term)
            ).distinct()
        return conversations.order_by("-updated_at")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.ConversationDetailSerializer
        return s.ConversationSerializer

    @extend_schema(request=None, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request, id=None):
        return transition_response(
            transitions.claim_conversation, self.get_object().pk, request.user
        )

    @extend_schema(request=None, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, id=None):
        return transition_response(
            transitions.resolve_conversation, self.get_object().pk, request.user
        )

    @extend_schema(request=s.ReturnToBotSerializer, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"], url_path="return-to-bot")
    def return_to_bot(self, request, id=None):
        body = s.ReturnToBotSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return transition_response(
            transitions.return_to_bot, self.get_object().pk, request.user, body.data["slots"]
        )

    @extend_schema(request=s.TransferSerializer, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request, id=None):
        body = s.TransferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        conversation = self.get_object()
        note = body.validated_data.get("note", "")
        if "agent" in body.validated_data:
            target = get_object_or_404(AgentProfile, user_id=body.validated_data["agent"])
            return transition_response(
                transitions.transfer_to_agent, conversation.pk, request.user, target.user, note
            )
        queue = get_object_or_404(Queue, pk=body.validated_data["queue"])
        return transition_response(
            transitions.transfer_to_queue, conversation.pk, request.user, queue, note
        )

    @extend_schema(request=s.ReplySerializer, responses=s.MessageSerializer)
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, id=None):
        conversation = self.get_object()
        if request.method == "GET":
            after = request.query_params.get("after", "0")
            messages = conversation.messages.filter(seq__gt=int(after) if after.isdigit() else 0)
            return Response(s.MessageSerializer(messages.order_by("seq"), many=True).data)
        body = s.ReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            message, created = send_agent_message(
                conversation.pk, request.user, body.data["text"], body.data.get("client_id")
            )
        except transitions.TransitionError as error:
            code = status.HTTP_403_FORBIDDEN if error.code in FORBIDDEN_CODES else 409
            return Response({"code": error.code, "message": error.message}, status=code)
        return Response(s.MessageSerializer(message).data, status=201 if created else 200)

    @extend_schema(request=s.NoteSerializer, responses=s.NoteSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, id=None):
        conversation = self.get_object()
        if request.method == "GET":
            notes = PrivateNote.objects.filter(conversation=conversation)
            return Response(s.NoteSerializer(notes, many=True).data)
        body = s.NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = add_private_note(conversation.pk, request.user, body.validated_data["text"])
        return Response(s.NoteSerializer(note).data, status=201)


class QueueViewSet(viewsets.ReadOnlyModelViewSet):
    """Queues with live figures: waiting chats, oldest wait, agents online, free capacity."""

    permission_classes = [IsAgent]
    serializer_class = s.QueueSerializer

    queryset = Queue.objects.all()

    def get_queryset(self):
        queues = Queue.objects.all()
        if getattr(self, "swagger_fake_view", False):
            return queues  # schema generation has no user
        if not is_supervisor(self.request.user):
            queues = queues.filter(agents__user=self.request.user)
        return queues.distinct()

    def _with_stats(self, queue: Queue) -> Queue:
        waiting = waiting_conversations(queue.pk)
        queue.waiting = len(waiting)
        queue.oldest_wait_seconds = oldest_wait_seconds(waiting)
        queue.agents_online = AgentProfile.objects.filter(
            queues=queue, status=AgentStatus.ONLINE
        ).count()
        queue.free_capacity = free_slots(queue.pk) if online_slots(queue.pk) else 0
        return queue

    def list(self, request, *args, **kwargs):
        queues = [self._with_stats(q) for q in self.get_queryset()]
        return Response(self.get_serializer(queues, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return Response(self.get_serializer(self._with_stats(self.get_object())).data)


class AgentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAgent]
    serializer_class = s.AgentSerializer
    queryset = AgentProfile.objects.select_related("user").prefetch_related("queues")

    @extend_schema(request=s.AgentSerializer, responses=s.AgentSerializer)
    @action(detail=False, methods=["get", "patch"])
    def me(self, request):
        """Your own agent profile; PATCH {"status": "online" | "away" | "offline"}."""
        profile = get_object_or_404(AgentProfile, user=request.user)
        if request.method == "PATCH":
            new_status = request.data.get("status")
            if new_status not in AgentStatus.values:
                return Response(
                    {"status": [f"Must be one of {', '.join(AgentStatus.values)}."]}, status=400
                )
            profile = set_agent_status(request.user, new_status)
        return Response(self.get_serializer(profile).data)


class CannedResponseViewSet(viewsets.ModelViewSet):
    permission_classes = [IsAgent, IsSupervisorOrReadOnly]
    serializer_class = s.CannedResponseSerializer
    queryset = CannedResponse.objects.all()
