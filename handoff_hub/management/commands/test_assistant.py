from django.conf import settings
from django.core.management.base import BaseCommand

from bot_engine import cli


class Command(BaseCommand):
    help = "Run a project's test stories and e2e test cases (tests/*.yml) and NLU test data."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--nlu", help="NLU test data file (nlu.yml format).")
        parser.add_argument("--report", help="Write every prediction to this JSON file.")

    def handle(self, *args, path: str, nlu=None, report=None, **options) -> None:
        self.stdout.ending = ""  # the engine prints whole lines itself
        code = cli.test(path, nlu, report, settings.HUB["MODEL_DIR"], self.stdout)
        if code:
            raise SystemExit(code)
