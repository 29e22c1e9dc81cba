"""The ceiling: a bare Channels consumer that speaks the widget protocol and stores nothing.

Served by the same hub worker (Daphne) as the hub, driven by the same load client, so every
hub figure can be read as a fraction of what Channels + Daphne do with no work at all:

    python -m deploy.hub_worker --port 8100 --app bench.echo_app:application
"""

import os
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "handoff_hub.settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402


class EchoConsumer(AsyncJsonWebsocketConsumer):
    """hello → welcome; message → ack + the same text back as a 'bot' message."""

    seq = 0

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type")
        if kind == "hello":
            await self.send_json(
                {"type": "welcome", "conversation": str(uuid.uuid4()), "token": "", "status": "bot"}
            )
        elif kind == "message":
            self.seq += 1
            await self.send_json(
                {"type": "ack", "client_id": content.get("client_id"), "seq": self.seq}
            )
            self.seq += 1
            await self.send_json(
                {"type": "message", "seq": self.seq, "sender": "bot", "text": content.get("text")}
            )


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),  # /healthz, so the harness can wait for it
        "websocket": URLRouter([path("ws/chat/", EchoConsumer.as_asgi())]),
    }
)
