"""Seed a realistic month of demo conversations so the analytics dashboard has something to show.

Runs once: a second run sees the seeded conversations and does nothing (--replace seeds again).
Everything goes through the hub's real code paths under a simulated clock.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from handoff_hub.analytics.clock import simulated_time
from handoff_hub.analytics.demo_month import DemoMonth, seeded_conversations
from handoff_hub.models import Webhook


class Command(BaseCommand):
    help = "Create a month of demo conversations (bot-only, handoffs, waits, ratings), once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--per-day", type=int, default=20, help="Conversations a weekday.")
        parser.add_argument("--seed", type=int, default=7, help="Same seed, same month.")
        parser.add_argument("--until", type=date.fromisoformat, help="Last day (default today).")
        parser.add_argument("--replace", action="store_true", help="Delete and seed again.")
        parser.add_argument(
            "--with-webhooks", action="store_true", help="Send the demo events to webhooks too."
        )

    def handle(self, *args, **options) -> None:
        existing = seeded_conversations()
        if existing.exists() and not options["replace"]:
            self.stdout.write(f"Demo analytics already seeded ({existing.count()} conversations).")
            return
        if Webhook.objects.filter(is_active=True).exists() and not options["with_webhooks"]:
            raise CommandError(
                "Active webhooks would receive the demo's events; deactivate them or pass "
                "--with-webhooks."
            )
        if options["replace"]:
            existing.delete()
        now = timezone.now()
        until = options["until"] or timezone.localdate()
        self.stdout.write(f"Seeding {options['days']} days of demo conversations…")
        with simulated_time(now) as clock:
            month = DemoMonth(clock, options["seed"], options["days"], until, options["per_day"])
            summary = month.run(not_after=now, report=self.stdout.write)
        plans = ", ".join(f"{plan}: {n}" for plan, n in sorted(summary.by_plan.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {summary.conversations} conversations, {summary.handoffs} handoffs "
                f"({plans})."
            )
        )
