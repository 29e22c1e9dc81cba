import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from bot_engine import cli


class Command(BaseCommand):
    help = "Talk to an assistant in the terminal, like `rasa shell`."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args, path: str, **options) -> None:
        self.stdout.ending = ""  # the engine prints whole lines itself
        cli.chat(path, settings.HUB["MODEL_DIR"], sys.stdin, self.stdout)
