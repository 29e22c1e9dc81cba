from channels.auth import AuthMiddlewareStack
from django.urls import path

from agent_console.consumers import AgentConsumer
from handoff_hub.consumers import CustomerConsumer

websocket_urlpatterns = [
    # Customers are identified by their signed chat token, never by a Django session: their
    # sockets skip the session and user look-ups (a thread hop per connect).
    path("ws/chat/", CustomerConsumer.as_asgi()),
    path("ws/console/", AuthMiddlewareStack(AgentConsumer.as_asgi())),
]
