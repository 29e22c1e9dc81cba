from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from handoff_hub.models import AgentProfile


@login_required
def console(request: HttpRequest) -> HttpResponse:
    profile = AgentProfile.objects.filter(user=request.user).first()
    if profile is None:
        return render(request, "agent_console/not_an_agent.html", status=403)
    return render(request, "agent_console/console.html", {"profile": profile})
