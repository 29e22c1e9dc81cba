from django.conf import settings
from django.core.management.base import BaseCommand

from bot_engine import cli


class Command(BaseCommand):
    help = "Train a Rasa project's NLU model (reused while the data does not change)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args, path: str, **options) -> None:
        self.stdout.ending = ""  # the engine prints whole lines itself
        code = cli.train(path, settings.HUB["MODEL_DIR"], self.stdout)
        if code:
            raise SystemExit(code)
