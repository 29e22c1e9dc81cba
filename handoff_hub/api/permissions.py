from rest_framework.permissions import BasePermission

from handoff_hub.agent_actions import is_supervisor
from handoff_hub.models import AgentProfile


class IsAgent(BasePermission):
    """Agents (and superusers) use the API; other logged-in users do not."""

    message = "Only agents can use this API."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return user.is_superuser or AgentProfile.objects.filter(user=user).exists()


class IsSupervisorOrReadOnly(BasePermission):
    message = "Only supervisors can change this."

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return is_supervisor(request.user)


class CanViewAnalytics(BasePermission):
    message = "Analytics are for supervisors and admins."

    def has_permission(self, request, view) -> bool:
        from handoff_hub.analytics.permissions import can_view_analytics

        return can_view_analytics(request.user)
