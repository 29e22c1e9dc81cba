from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from agent_console.dashboard import dashboard_figures
from handoff_hub.agent_actions import is_supervisor
from handoff_hub.models import AgentProfile, CannedResponse, Conversation, Queue
from handoff_hub.status import ConversationStatus


def supervisor_required(view):
    @login_required
    def check(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_supervisor(request.user):
            return render(request, "agent_console/not_an_agent.html", status=403)
        return view(request, *args, **kwargs)

    return check


@supervisor_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "agent_console/dashboard.html", {"figures": dashboard_figures()})


@supervisor_required
def dashboard_data(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dashboard_figures())


@login_required
def console(request: HttpRequest) -> HttpResponse:
    profile = AgentProfile.objects.filter(user=request.user).first()
    if profile is None:
        return render(request, "agent_console/not_an_agent.html", status=403)
    busy = Conversation.objects.filter(
        assigned_agent=request.user, status=ConversationStatus.ASSIGNED
    ).count()
    # What the console's scripts need, handed over as JSON (json_script escapes it safely).
    console_data = {
        "agentId": request.user.pk,
        "agentName": profile.name,
        "status": profile.status,
        "capacity": profile.capacity,
        "busy": busy,
        "supervisor": is_supervisor(request.user),
        "queues": list(Queue.objects.values("id", "name")),
        "agents": [
            {"id": a.user_id, "name": a.name}
            for a in AgentProfile.objects.select_related("user").exclude(user=request.user)
        ],
        "canned": list(CannedResponse.objects.values("shortcut", "text")),
    }
    return render(
        request, "agent_console/console.html", {"profile": profile, "console_data": console_data}
    )
