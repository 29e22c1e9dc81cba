"""Plain HTTP views of the hub: the demo site and the health check."""

import asyncio

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from handoff_hub import lifecycle
from handoff_hub.outbox import group_send_fresh

HEALTH_TIMEOUT_SECONDS = 2.0


def demo_site(request: HttpRequest) -> HttpResponse:
    """A fictional company's page with the chat widget embedded by one script tag."""
    return render(request, "demo/index.html")


def _database_answers() -> None:
    # Worker threads keep their connection; drop it if the database went away meanwhile.
    close_old_connections()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connection.close()
        raise


async def _layer_answers() -> None:
    layer = get_channel_layer()
    if layer is not None:
        # One publish to a group nobody joins: proves the layer (Redis) takes messages.
        await group_send_fresh(layer, "healthz", {"type": "health.check"})


async def healthz(request: HttpRequest) -> HttpResponse:
    """200 when this process can store messages and publish events; 503 otherwise.

    A draining process (graceful shutdown) also answers 503 so the proxy sends new clients
    elsewhere. Cheap: one `SELECT 1` and one publish, each bounded by a short timeout.
    """
    checks = {"database": "ok", "channel_layer": "ok"}
    if lifecycle.is_draining():
        checks["process"] = "draining"
    for name, check in (
        ("database", sync_to_async(_database_answers, thread_sensitive=False)),
        ("channel_layer", _layer_answers),
    ):
        try:
            await asyncio.wait_for(check(), HEALTH_TIMEOUT_SECONDS)
        except Exception as error:  # noqa: BLE001 - any failure is the answer
            checks[name] = f"failed: {type(error).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"ok": healthy, **checks}, status=200 if healthy else 503)
