from django.core.management.base import BaseCommand

from handoff_hub.webhooks.delivery import deliver_due


class Command(BaseCommand):
    help = "Send every webhook delivery that is due now (for cron, or without the worker)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Attempted {deliver_due(limit=1000)} deliveries.")
