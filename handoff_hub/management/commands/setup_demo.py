"""Prepare the demo: queue, a demo agent, an admin, and the trained demo assistant.

Idempotent: a second run keeps what exists. Passwords come from the environment when set.
"""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from handoff_hub.agents import grant_role
from handoff_hub.engine import get_assistant
from handoff_hub.models import AgentProfile, Queue


class Command(BaseCommand):
    help = "Create the demo queue, agent and admin logins, and train the demo assistant."

    def handle(self, *args, **options) -> None:
        queue, _ = Queue.objects.get_or_create(name="Support", defaults={"is_default": True})
        agent_password = os.environ.get("DEMO_AGENT_PASSWORD", "agent-demo")
        admin_password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin-demo")
        agent = self._user("agent", agent_password, staff=False)
        profile, _ = AgentProfile.objects.get_or_create(
            user=agent, defaults={"display_name": "Alex (Support)", "capacity": 3}
        )
        profile.queues.add(queue)
        grant_role(agent)
        admin = self._user("admin", admin_password, staff=True)
        admin_profile, _ = AgentProfile.objects.get_or_create(
            user=admin, defaults={"display_name": "Sam (Supervisor)", "is_supervisor": True}
        )
        admin_profile.queues.add(queue)
        self.stdout.write("Loading and training the demo assistant…")
        assistant = get_assistant()
        self.stdout.write(f"Assistant ready (model {assistant.fingerprint[:12]}).")
        self.stdout.write(
            self.style.SUCCESS(
                "\n  Demo site:     http://127.0.0.1:8000/\n"
                f"  Agent console: http://127.0.0.1:8000/console/  login agent / {agent_password}\n"
                f"  Django admin:  http://127.0.0.1:8000/admin/    login admin / {admin_password}\n"
            )
        )

    def _user(self, username: str, password: str, staff: bool):
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": staff, "is_superuser": staff}
        )
        if created:
            user.set_password(password)
            user.save()
        return user
