"""Create (or update) an agent login: `manage.py create_agent alex --password … --queue Support`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from handoff_hub.agents import grant_role
from handoff_hub.models import AgentProfile, Queue


class Command(BaseCommand):
    help = "Create or update an agent user with a profile serving the given queues."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="", help="Name shown to customers.")
        parser.add_argument("--queue", action="append", default=[], help="Queue name (repeat).")
        parser.add_argument("--capacity", type=int, default=3)
        parser.add_argument("--supervisor", action="store_true")

    def handle(self, *args, username: str, password: str, **options) -> None:
        if options["capacity"] < 1:
            raise CommandError("--capacity must be at least 1.")
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.save()
        profile, _ = AgentProfile.objects.update_or_create(
            user=user,
            defaults={
                "display_name": options["name"],
                "capacity": options["capacity"],
                "is_supervisor": options["supervisor"],
            },
        )
        grant_role(user, supervisor=options["supervisor"])
        for name in options["queue"] or ["Support"]:
            queue, _ = Queue.objects.get_or_create(
                name=name, defaults={"is_default": not Queue.objects.exists()}
            )
            profile.queues.add(queue)
        self.stdout.write(f"Agent {username} ready ({profile.name}).")
