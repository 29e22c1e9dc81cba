from django.urls import path

from agent_console.consumers import AgentConsumer
from handoff_hub.consumers import CustomerConsumer

websocket_urlpatterns = [
    path("ws/chat/", CustomerConsumer.as_asgi()),
    path("ws/console/", AgentConsumer.as_asgi()),
]
