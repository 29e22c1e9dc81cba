"""Plain HTTP views of the hub: the demo site and the health check."""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def demo_site(request: HttpRequest) -> HttpResponse:
    """A fictional company's page with the chat widget embedded by one script tag."""
    return render(request, "demo/index.html")


def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")
