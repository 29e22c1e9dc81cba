"""The analytics page and its CSV export, for supervisors and admins."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from handoff_hub.analytics.charts import report_charts
from handoff_hub.analytics.export import report_csv
from handoff_hub.analytics.filters import AnalyticsFilterForm, default_scope
from handoff_hub.analytics.metrics import analytics_report
from handoff_hub.analytics.permissions import can_view_analytics


def analytics_required(view):
    @login_required
    def check(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not can_view_analytics(request.user):
            return render(request, "analytics/not_allowed.html", status=403)
        return view(request, *args, **kwargs)

    return check


def _with_default_dates(params) -> dict:
    """The query string with the default period filled in, so the form shows what is shown."""
    data = params.copy()
    if not data.get("start") and not data.get("end"):
        scope = default_scope()
        data["start"], data["end"] = scope.start.isoformat(), scope.end.isoformat()
    return data


@analytics_required
def dashboard(request: HttpRequest) -> HttpResponse:
    form = AnalyticsFilterForm(_with_default_dates(request.GET))
    scope = form.scope() if form.is_valid() else default_scope()
    report = analytics_report(scope)
    context = {
        "form": form,
        "report": report,
        "summary": report["summary"],
        "charts": report_charts(report),
        "query": request.GET.urlencode(),
        "filtered_to_humans": scope.queue_id is not None or scope.agent_id is not None,
        "time_zone": timezone.get_current_timezone_name(),
    }
    return render(
        request, "analytics/dashboard.html", context, status=200 if form.is_valid() else 400
    )


@analytics_required
def export_csv(request: HttpRequest) -> HttpResponse:
    form = AnalyticsFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(str(e) for field in form.errors.values() for e in field)
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    scope = form.scope()
    response = HttpResponse(
        report_csv(analytics_report(scope)), content_type="text/csv; charset=utf-8"
    )
    name = f"handoff-hub-analytics-{scope.start}-{scope.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
