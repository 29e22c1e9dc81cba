"""Run queued assistant train and test jobs (when HUB_ASSISTANT_JOBS_IN_PROCESS is false)."""

import time

from django.core.management.base import BaseCommand

from handoff_hub.assistants.runner import run_next_job


class Command(BaseCommand):
    help = "Run queued assistant training and test jobs; --once stops when none is left."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, **options) -> None:
        while True:
            job = run_next_job()
            if job is not None:
                self.stdout.write(f"{job}: {job.error or job.result.get('summary', 'done')}")
                continue
            if options["once"]:
                return
            time.sleep(2)
