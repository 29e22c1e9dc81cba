"""Activate a trained assistant version for a site key, or roll a site back."""

from django.core.management.base import BaseCommand, CommandError

from handoff_hub.assistants import actions
from handoff_hub.assistants.models import AssistantVersion, describe_site


class Command(BaseCommand):
    help = "Activate version NUMBER of ASSISTANT for --site (blank: every site), or --rollback."

    def add_arguments(self, parser) -> None:
        parser.add_argument("assistant", nargs="?")
        parser.add_argument("number", nargs="?", type=int)
        parser.add_argument("--site", default="")
        parser.add_argument("--rollback", action="store_true", help="Go back one version.")

    def handle(self, *args, **options) -> None:
        site = options["site"]
        try:
            if options["rollback"]:
                deployment = actions.rollback_site(site)
            else:
                version = AssistantVersion.objects.filter(
                    assistant__name=options["assistant"], number=options["number"]
                ).first()
                if version is None:
                    raise CommandError("No such assistant version.")
                deployment = actions.activate_version(version, site)
        except actions.LifecycleError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"{describe_site(site)} runs {deployment.version}")
