"""Rasa-compatible HTTP endpoints, so clients written for a Rasa server work with the hub.

POST /webhooks/rest/webhook   {"sender", "message", "metadata"} -> [bot messages]
POST /model/parse             {"text"} -> Rasa parse result
GET  /conversations/<sender>/tracker  (staff or token-authenticated agents)
"""

import json
import uuid

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from handoff_hub import trackers
from handoff_hub.agent_actions import conversations_visible_to
from handoff_hub.customer_actions import receive_customer_message
from handoff_hub.engine import get_assistant
from handoff_hub.models import AgentProfile, Conversation

MAX_BODY_BYTES = 64 * 1024


def _bad_request(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _json_body(request: HttpRequest) -> dict | JsonResponse:
    if len(request.body) > MAX_BODY_BYTES:
        return _bad_request("Request body is too large.", 413)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _bad_request("Request body is not valid JSON.")
    if not isinstance(body, dict):
        return _bad_request("Request body must be a JSON object.")
    return body


@csrf_exempt  # a machine-to-machine endpoint with no cookies, like Rasa's own
@require_POST
def rest_webhook(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    if isinstance(body, JsonResponse):
        return body
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender or len(sender) > 200:
        return _bad_request("'sender' must be a non-empty string of at most 200 characters.")
    limit = settings.HUB["MAX_MESSAGE_CHARS"]
    if not isinstance(text, str) or not text.strip() or len(text) > limit:
        return _bad_request(f"'message' must be a non-empty string of at most {limit} characters.")
    metadata = body.get("metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        return _bad_request("'metadata' must be an object.")
    conversation = _rest_conversation(sender, metadata)
    turn = receive_customer_message(conversation.pk, text)
    return JsonResponse([_rasa_message(m, sender) for m in turn.bot_replies], safe=False)


def _rest_conversation(sender: str, metadata: dict) -> Conversation:
    with transaction.atomic():
        conversation, _ = Conversation.objects.get_or_create(
            channel="rest", customer_id=sender, defaults={"customer_metadata": metadata}
        )
    return conversation


def _rasa_message(message, recipient: str) -> dict:
    result = {"recipient_id": recipient}
    if message.text:
        result["text"] = message.text
    for key in ("buttons", "image", "custom", "attachment", "quick_replies", "elements"):
        if message.data.get(key):
            result[key] = message.data[key]
    return result


@csrf_exempt
@require_POST
def model_parse(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    if isinstance(body, JsonResponse):
        return body
    text = body.get("text")
    if not isinstance(text, str) or len(text) > settings.HUB["MAX_MESSAGE_CHARS"]:
        return _bad_request("'text' must be a string.")
    return JsonResponse(get_assistant().parse(text))


@extend_schema(responses=OpenApiTypes.OBJECT, summary="The conversation's tracker (Rasa JSON)")
@api_view(["GET"])
@authentication_classes([TokenAuthentication, SessionAuthentication])
@permission_classes([IsAuthenticated])
def conversation_tracker(request, sender_id: str) -> Response:
    """The stored tracker in Rasa's JSON; trackers hold customer data, so agents only."""
    if not AgentProfile.objects.filter(user=request.user).exists() and not request.user.is_staff:
        return Response({"error": "Only agents can read trackers."}, status=403)
    visible = conversations_visible_to(request.user)
    conversation = visible.filter(customer_id=sender_id).first()
    if conversation is None and _is_uuid(sender_id):
        conversation = visible.filter(public_id=sender_id).first()
    if conversation is None:
        return Response({"error": "No such conversation."}, status=404)
    assistant = get_assistant(conversation)
    tracker = assistant.new_tracker(sender_id, trackers.load(conversation))
    return Response(tracker.current_state())


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
