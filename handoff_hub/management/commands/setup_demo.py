"""Prepare the demo: queue, a demo agent, an admin, and the demo assistant as an active version.

Idempotent: a second run keeps what exists (and reuses the demo assistant's version while its
files are unchanged). Passwords come from the environment when set.
"""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from handoff_hub.agents import grant_role
from handoff_hub.assistants.deploy import deploy_directory, line_progress
from handoff_hub.models import AgentProfile, Queue

DEMO_ASSISTANT = "Northwind demo"


class Command(BaseCommand):
    help = (
        "Create the demo queue, agent and admin logins, deploy the demo assistant and seed a "
        "month of analytics (once); the logins are printed last."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-seed", action="store_true", help="Skip the month of demo conversations."
        )

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
        self._deploy_assistant(admin)
        if not options["no_seed"]:
            call_command("seed_demo_analytics", stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(
                "\n  Demo site:     http://127.0.0.1:8000/\n"
                f"  Agent console: http://127.0.0.1:8000/console/  login agent / {agent_password}\n"
                f"  Django admin:  http://127.0.0.1:8000/admin/    login admin / {admin_password}\n"
                "  Analytics:     http://127.0.0.1:8000/analytics/  (as admin)\n"
            )
        )

    def _deploy_assistant(self, admin) -> None:
        """The demo assistant as an admin would deploy it: a validated, trained, active version."""
        self.stdout.write("Deploying the demo assistant (validate, train, activate)…")
        outcome = deploy_directory(
            DEMO_ASSISTANT,
            settings.BASE_DIR / "demo_assistant",
            echo=line_progress(self.stdout.write),
            user=admin,
        )
        version = outcome.version
        done = [
            word
            for word, happened in (
                ("imported", outcome.imported),
                ("trained", outcome.trained),
                ("activated", outcome.activated),
            )
            if happened
        ]
        state = ", ".join(done) if done else "unchanged"
        self.stdout.write(f"{version} ({state}; model {version.model_fingerprint[:12]}).")

    def _user(self, username: str, password: str, staff: bool):
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": staff, "is_superuser": staff}
        )
        if created:
            user.set_password(password)
            user.save()
        return user
