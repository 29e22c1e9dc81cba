"""Who may see analytics: supervisors and admins (the `hub.view_analytics` permission)."""

from handoff_hub.agent_actions import is_supervisor


def can_view_analytics(user) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.has_perm("hub.view_analytics") or is_supervisor(user)
