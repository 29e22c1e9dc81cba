from django.core.management.base import BaseCommand

from bot_engine import cli


class Command(BaseCommand):
    help = "Check a Rasa project; print errors with file, line and key. Exit 1 on errors."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args, path: str, **options) -> None:
        self.stdout.ending = ""  # the engine prints whole lines itself
        code = cli.validate(path, self.stdout)
        if code:
            raise SystemExit(code)
