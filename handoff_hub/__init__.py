"""Handoff Hub: the Django project and the hub's core (conversations, routing, queues, API)."""
