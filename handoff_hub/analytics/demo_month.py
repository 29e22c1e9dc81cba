"""A realistic month of conversations for the demo, made by the hub's own code paths.

Customers write through `receive_customer_message` (the real bot answers and hands off),
handoffs the demo bot cannot produce itself (patterns, custom actions, failures) go through
`enqueue_handoff`, and agents claim, reply, re-queue, resolve and return chats through the state
machine, all under a simulated clock. The same seed and end date give the same figures.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction

from handoff_hub import trackers
from handoff_hub.agent_actions import send_agent_message
from handoff_hub.analytics.clock import SimulatedClock
from handoff_hub.customer_actions import rate_conversation, receive_customer_message
from handoff_hub.engine import assistant_for
from handoff_hub.messaging import lock_conversation
from handoff_hub.models import AgentProfile, Conversation, Queue
from handoff_hub.status import ConversationStatus, HandoffReason
from handoff_hub.transitions import (
    TransitionError,
    claim_conversation,
    end_chat_by_customer,
    enqueue_handoff,
    requeue_conversation,
    resolve_conversation,
    return_to_bot,
)

SEED_MARK = "demo-analytics"
TOPICS = {
    "shipping": ["how long does shipping take?", "what does express delivery cost?"],
    "returns": ["how do I return an item?", "I want to send my jacket back"],
    "hours": ["when are your stores open?", "what are your opening hours?"],
    "order": ["where is my order?", "has my order shipped yet?"],
    "billing": ["I was charged twice for my order", "I need an invoice for my order"],
}
GREETINGS = ["hi", "hello", "good morning", "hey there"]
CLOSINGS = ["thanks!", "great, thank you", "bye"]
ASK_HUMAN = ["I want to talk to a person", "can I speak to a human please"]
GIBBERISH = ["asdf qwerty", "blorp flum zzz", "hmm ?? x", "qqq www"]
AGENT_LINES = [
    "Thanks for waiting! Let me look into that for you.",
    "Could you give me your order number?",
    "Found it. It's on its way and should arrive tomorrow.",
    "I've sorted that out for you. Anything else I can help with?",
]
CUSTOMER_LINES = ["it's NW-48213", "ok, thanks", "that helps", "no, that's all"]
# (outcome, weight): what a conversation is planned to be.
PLANS = [
    ("bot_answers", 58),
    ("bot_struggles", 7),
    (HandoffReason.EXPLICIT_REQUEST, 12),
    (HandoffReason.TWO_STAGE_FALLBACK, 7),
    (HandoffReason.CORE_FALLBACK, 3),
    (HandoffReason.PATTERN, 4),
    (HandoffReason.CUSTOM_ACTION, 6),
    (HandoffReason.BOT_ERROR, 2),
    (HandoffReason.MANUAL, 1),
]
BOT_RATINGS = {"bot_answers": [5, 5, 5, 4, 4, 3, 2], "bot_struggles": [4, 3, 2, 2, 1]}
SEEDED_AGENTS = [
    ("seed-jordan", "Jordan (Support)", ["Support"]),
    ("seed-priya", "Priya (Billing)", ["Billing"]),
    ("seed-mei", "Mei (Support, Billing)", ["Support", "Billing"]),
]


@dataclass
class SeedSummary:
    conversations: int = 0
    handoffs: int = 0
    by_plan: dict = field(default_factory=dict)


class DemoMonth:
    def __init__(self, clock: SimulatedClock, seed: int, days: int, until: date, per_day: int):
        self.clock = clock
        self.random = random.Random(seed)
        self.seed = seed
        self.days = days
        self.until = until
        self.per_day = per_day
        self.summary = SeedSummary()

    # ---- setup ----
    def prepare_team(self) -> None:
        support = (
            Queue.objects.filter(is_default=True).first()
            or Queue.objects.get_or_create(name="Support", defaults={"is_default": True})[0]
        )
        billing, _ = Queue.objects.get_or_create(name="Billing")
        self.queues = {"Support": support, "Billing": billing}
        users = get_user_model().objects
        for username, name, queues in SEEDED_AGENTS:
            user, created = users.get_or_create(username=username)
            if created:
                user.set_unusable_password()  # demo staff: appear in figures, never log in
                user.save()
            profile, _ = AgentProfile.objects.get_or_create(
                user=user, defaults={"display_name": name, "capacity": 3}
            )
            profile.queues.add(*(self.queues[q] for q in queues))
        self.agents = {
            key: list(
                AgentProfile.objects.filter(queues=queue).select_related("user").order_by("pk")
            )
            for key, queue in self.queues.items()
        }

    # ---- the month ----
    def run(self, not_after: datetime | None = None, report=None) -> SeedSummary:
        """Seed the month (conversations starting after `not_after` are skipped); `report`
        hears about each finished week."""
        self.prepare_team()
        statuses = dict(AgentProfile.objects.values_list("pk", "status"))
        week = None
        for start in self.start_times():
            if not_after is not None and start > not_after:
                continue
            if report is not None and week not in (None, start.isocalendar()[:2]):
                report(f"  {self.summary.conversations} conversations before {start.date()}")
            week = start.isocalendar()[:2]
            self.one_conversation(start)
        for pk, status in statuses.items():  # claiming made agents online; put them back
            AgentProfile.objects.filter(pk=pk).update(status=status)
        return self.summary

    def start_times(self) -> list[datetime]:
        times = []
        first = self.until - timedelta(days=self.days - 1)
        for offset in range(self.days):
            day = first + timedelta(days=offset)
            busy = self.per_day if day.weekday() < 5 else self.per_day // 2
            for _ in range(max(1, int(self.random.gauss(busy, busy / 5)))):
                hour = min(22.9, max(7.0, self.random.gauss(13, 3.2)))
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                times.append(start + timedelta(hours=hour))
        return sorted(times)

    def one_conversation(self, start: datetime) -> None:
        self.clock.set(start)
        if self.summary.conversations < len(PLANS):  # every kind at least once, then by weight
            plan = PLANS[self.summary.conversations][0]
        else:
            plan = self.random.choices([p for p, _ in PLANS], [w for _, w in PLANS])[0]
        topic = self.random.choice(sorted(TOPICS))
        queue = self.queues["Billing" if topic in ("billing", "order") else "Support"]
        conversation = Conversation.objects.create(
            queue=queue,
            customer_id=f"demo-{self.seed}-{self.summary.conversations}",
            customer_metadata={"seeded": SEED_MARK, "seed": self.seed},
        )
        self.summary.conversations += 1
        self.summary.by_plan[plan] = self.summary.by_plan.get(plan, 0) + 1
        self.bot_part(conversation, plan, topic)
        if self.status(conversation) == ConversationStatus.QUEUED:
            self.summary.handoffs += 1
            self.human_part(conversation, plan)
        elif plan in BOT_RATINGS and self.random.random() < 0.25:
            rate_conversation(conversation.pk, self.random.choice(BOT_RATINGS[plan]))

    def status(self, conversation: Conversation) -> str:
        return Conversation.objects.values_list("status", flat=True).get(pk=conversation.pk)

    def say(self, conversation: Conversation, text: str, pause: tuple[int, int] = (5, 40)) -> None:
        self.clock.advance(self.random.uniform(*pause))
        receive_customer_message(conversation.pk, text)

    # ---- with the bot ----
    def bot_part(self, conversation: Conversation, plan: str, topic: str) -> None:
        if self.random.random() < 0.6:
            self.say(conversation, self.random.choice(GREETINGS))
        if plan in ("bot_struggles", HandoffReason.TWO_STAGE_FALLBACK):
            self.say(conversation, self.random.choice(GIBBERISH))
            if plan == HandoffReason.TWO_STAGE_FALLBACK:
                self.say(conversation, "no")
                self.say(conversation, self.random.choice(GIBBERISH))
        if self.status(conversation) == ConversationStatus.BOT:
            self.say(conversation, self.random.choice(TOPICS[topic]))
        if topic == "order" and self.status(conversation) == ConversationStatus.BOT:
            self.say(conversation, f"NW-{self.random.randint(10000, 99999)}")
        if plan == HandoffReason.EXPLICIT_REQUEST:
            self.say(conversation, self.random.choice(ASK_HUMAN))
        elif plan in ("bot_answers", "bot_struggles"):
            if self.random.random() < 0.5:
                self.say(conversation, self.random.choice(CLOSINGS))
            if self.random.random() < 0.2:
                end_chat_by_customer(conversation.pk)
        if plan not in ("bot_answers", "bot_struggles"):
            self.ensure_handoff(conversation, plan)

    def ensure_handoff(self, conversation: Conversation, reason: str) -> None:
        """Hand off as a pattern, custom action or failing bot would, if the bot did not."""
        if self.status(conversation) != ConversationStatus.BOT:
            return
        assistant = assistant_for(conversation).assistant
        with transaction.atomic():
            locked = lock_conversation(conversation.pk)
            tracker = assistant.new_tracker(str(locked.public_id), trackers.load(locked))
            enqueue_handoff(locked, reason, assistant.bot_context(tracker))

    # ---- with a human ----
    def human_part(self, conversation: Conversation, reason: str) -> None:
        queue = Conversation.objects.get(pk=conversation.pk).queue
        wait = self.random.lognormvariate(4.1, 1.1)  # median about a minute, long tail
        if self.random.random() < min(0.5, 0.04 + wait / 1800):
            self.clock.advance(min(wait, 900))  # gave up waiting
            end_chat_by_customer(conversation.pk)
            return
        self.clock.advance(wait)
        agent = self.claim(conversation, queue)
        if agent is None:
            return
        for turn in range(self.random.randint(1, 3)):
            self.clock.advance(self.random.uniform(8, 70))
            send_agent_message(conversation.pk, agent.user, AGENT_LINES[turn])
            self.say(conversation, self.random.choice(CUSTOMER_LINES), (15, 90))
        if self.random.random() < 0.05:  # the agent had to leave: someone else finishes
            requeue_conversation(conversation.pk, agent.user, why="agent left")
            self.clock.advance(self.random.uniform(20, 240))
            agent = self.claim(conversation, queue) or agent
        self.finish(conversation, agent, reason, wait)

    def claim(self, conversation: Conversation, queue: Queue) -> AgentProfile | None:
        candidates = self.agents["Billing" if queue == self.queues["Billing"] else "Support"]
        for profile in self.random.sample(candidates, len(candidates)):
            try:
                claim_conversation(conversation.pk, profile.user)
                return profile
            except TransitionError:
                continue  # full, or the dispatcher assigned it already
        current = Conversation.objects.get(pk=conversation.pk)
        return AgentProfile.objects.filter(user_id=current.assigned_agent_id).first()

    def finish(self, conversation, agent: AgentProfile, reason: str, wait: float) -> None:
        self.clock.advance(self.random.uniform(30, 400))
        ending = self.random.random()
        if ending < 0.75:
            resolve_conversation(conversation.pk, agent.user)
        elif ending < 0.9:
            return_to_bot(conversation.pk, agent.user)
        else:
            end_chat_by_customer(conversation.pk)
        if self.random.random() < 0.6:
            # Long waits and a bot that did not understand sour the rating.
            mood = 5 - (wait > 120) - (wait > 420) - (reason == HandoffReason.TWO_STAGE_FALLBACK)
            score = max(1, min(5, mood + self.random.choice([-2, -1, 0, 0, 0, 1])))
            rate_conversation(conversation.pk, score)


def seeded_conversations():
    return Conversation.objects.filter(customer_metadata__seeded=SEED_MARK)
