"""Add a project (directory or zip) as a new version of an assistant; optionally train and
activate it — the same steps as in Django admin, for deploy scripts."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from handoff_hub.assistants import actions
from handoff_hub.assistants.deploy import deploy_directory, line_progress, run_now
from handoff_hub.assistants.models import Assistant, JobKind, JobStatus


class Command(BaseCommand):
    help = "Import a Rasa project as a new assistant version (validate; --activate trains too)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("assistant", help="Assistant name (created if new).")
        parser.add_argument("project", help="A project directory or a .zip of one.")
        parser.add_argument("--notes", default="")
        parser.add_argument("--activate", action="store_true", help="Train and activate it.")
        parser.add_argument("--site", default="", help="Site key to activate for (blank: all).")

    def handle(self, *args, **options) -> None:
        project = Path(options["project"])
        try:
            if project.suffix == ".zip":
                version = self._from_zip(options, project)
            else:
                outcome = deploy_directory(
                    options["assistant"],
                    project,
                    options["site"],
                    echo=line_progress(self.stdout.write),
                    activate=options["activate"],
                )
                version = outcome.version
        except actions.LifecycleError as error:
            raise CommandError(error.message) from None
        for message in version.validation_messages:
            self.stdout.write(
                f"{message['level']}: {message['file']}:{message['line'] or ''} "
                f"{message['key']} {message['message']}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"{version}: {version.get_validation_status_display()}")
        )

    def _from_zip(self, options, project: Path):
        assistant, _ = Assistant.objects.get_or_create(name=options["assistant"])
        with open(project, "rb") as upload:
            version = actions.add_version_from_zip(assistant, upload, notes=options["notes"])
        if options["activate"]:
            job = run_now(version, JobKind.TRAIN, line_progress(self.stdout.write))
            if job.status != JobStatus.SUCCEEDED:
                raise CommandError(job.error)
            actions.activate_version(version, options["site"])
        return version
