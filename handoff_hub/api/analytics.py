"""The analytics report over the REST API: the same figures as the dashboard and its CSV."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from handoff_hub.analytics.filters import AnalyticsFilterForm
from handoff_hub.analytics.metrics import analytics_report
from handoff_hub.api.permissions import CanViewAnalytics


def _rate(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=f"{help_text} (0–1; null: none).")


class DurationsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True, help_text="Median, seconds.")
    p90 = serializers.FloatField(allow_null=True, help_text="90th percentile, seconds.")
    average = serializers.FloatField(allow_null=True, help_text="Mean, seconds.")


class RatingCountSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=1, max_value=5)
    count = serializers.IntegerField()


class RatingsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True)
    distribution = RatingCountSerializer(many=True)


class SummarySerializer(serializers.Serializer):
    conversations = serializers.IntegerField(help_text="Started in the period; customer wrote.")
    contained = serializers.IntegerField(help_text="Conversations never handed to a human.")
    containment_rate = _rate("contained / conversations")
    handed_off = serializers.IntegerField(help_text="Conversations with at least one handoff.")
    handoff_rate = _rate("handed_off / conversations")
    handoffs = serializers.IntegerField(help_text="Handoff tickets.")
    abandoned = serializers.IntegerField(help_text="Tickets the customer left while queued.")
    abandonment_rate = _rate("abandoned / handoffs")
    user_messages = serializers.IntegerField(help_text="Customer messages the bot saw.")
    nlu_fallbacks = serializers.IntegerField()
    nlu_fallback_rate = _rate("nlu_fallbacks / user_messages")
    wait = DurationsSerializer(help_text="Handoff to first assignment.")
    first_response = DurationsSerializer(help_text="Handoff to the first agent reply.")
    handle = DurationsSerializer(help_text="First assignment to the ticket's end.")
    resolution = DurationsSerializer(help_text="Handoff to resolved or returned to the bot.")
    ratings = RatingsSerializer()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class IntentCountSerializer(serializers.Serializer):
    intent = serializers.CharField()
    count = serializers.IntegerField()


class BucketSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    count = serializers.IntegerField()


class DaySerializer(serializers.Serializer):
    date = serializers.DateField()
    conversations = serializers.IntegerField()
    handed_off = serializers.IntegerField()
    contained = serializers.IntegerField()
    handoff_rate = _rate("handed_off / conversations")


class QueueFiguresSerializer(serializers.Serializer):
    queue_id = serializers.IntegerField(allow_null=True)
    queue = serializers.CharField()
    handoffs = serializers.IntegerField()
    abandoned = serializers.IntegerField()
    wait = DurationsSerializer()
    handle = DurationsSerializer()
    average_rating = serializers.FloatField(allow_null=True)


class AgentFiguresSerializer(serializers.Serializer):
    agent_id = serializers.IntegerField()
    agent = serializers.CharField()
    handled = serializers.IntegerField(help_text="Tickets the agent had when they ended.")
    resolved = serializers.IntegerField()
    first_response = DurationsSerializer()
    handle = DurationsSerializer()
    average_rating = serializers.FloatField(allow_null=True)


class VersionFiguresSerializer(serializers.Serializer):
    version_id = serializers.IntegerField(allow_null=True)
    version = serializers.CharField()
    conversations = serializers.IntegerField()
    containment_rate = _rate("contained / conversations")
    handoff_rate = _rate("handed_off / conversations")
    nlu_fallback_rate = _rate("nlu_fallbacks / user_messages")


class ScopeSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    queue = serializers.IntegerField(allow_null=True)
    agent = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)


class AnalyticsReportSerializer(serializers.Serializer):
    scope = ScopeSerializer()
    summary = SummarySerializer()
    handoffs_by_reason = ReasonSerializer(many=True)
    top_intents_before_handoff = IntentCountSerializer(many=True)
    wait_distribution = BucketSerializer(many=True)
    per_day = DaySerializer(many=True)
    by_queue = QueueFiguresSerializer(many=True)
    by_agent = AgentFiguresSerializer(many=True)
    by_version = VersionFiguresSerializer(many=True)


class AnalyticsReportView(APIView):
    """Containment, handoffs by reason, waits, response and handle times, ratings."""

    permission_classes = [CanViewAnalytics]

    @extend_schema(
        summary="Analytics for a period (supervisors and admins)",
        parameters=[
            OpenApiParameter(
                "start", str, description="First day, YYYY-MM-DD (default: 29 days before end)."
            ),
            OpenApiParameter("end", str, description="Last day, YYYY-MM-DD (default: today)."),
            OpenApiParameter("queue", int, description="Only handoffs to this queue."),
            OpenApiParameter("agent", int, description="Only chats this agent (user id) had."),
            OpenApiParameter("version", int, description="Only this assistant version."),
        ],
        responses=AnalyticsReportSerializer,
    )
    def get(self, request):
        form = AnalyticsFilterForm(request.query_params)
        if not form.is_valid():
            return Response(form.errors.get_json_data(), status=400)
        report = analytics_report(form.scope())
        return Response(AnalyticsReportSerializer(report).data)
