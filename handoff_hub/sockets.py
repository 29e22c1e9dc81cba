"""The base of the hub's WebSocket consumers."""

from channels.consumer import get_handler_name
from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncJsonWebsocketConsumer


class HubConsumer(AsyncJsonWebsocketConsumer):
    """Channels refreshes the database connection before every handler — a trip to a worker
    thread for each frame and each live event. The hub does it only where a handler touches
    the database from the shared async-ORM thread (`refresh_connections_on`); the message
    path's threads (group commit, engine pool) manage their own connections.
    """

    refresh_connections_on: frozenset[str] = frozenset({"websocket.connect"})

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        if message["type"] in self.refresh_connections_on:
            await aclose_old_connections()
        await handler(message)
