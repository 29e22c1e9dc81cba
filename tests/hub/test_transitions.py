"""The conversation state machine: every transition, its audit row, and the races."""

import threading

import pytest
from django.db import close_old_connections, transaction

from handoff_hub.agents import set_agent_status
from handoff_hub.messaging import lock_conversation
from handoff_hub.models import AuditEvent, Conversation, HandoffTicket, Message, Queue
from handoff_hub.queue_stats import eta_seconds, queue_positions
from handoff_hub.status import ConversationStatus as S
from handoff_hub.status import RoutingMode
from handoff_hub.transitions import (
    TransitionError,
    claim_conversation,
    end_chat_by_customer,
    enqueue_handoff,
    requeue_conversation,
    resolve_conversation,
    transfer_to_agent,
    transfer_to_queue,
)

pytestmark = pytest.mark.django_db(transaction=True)


def handed_off(queue: Queue | None = None, reason: str = "explicit_request") -> Conversation:
    conversation = Conversation.objects.create(queue=queue)
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation.pk), reason, {"summary": "wants a human"})
    conversation.refresh_from_db()
    return conversation


def audit_trail(conversation: Conversation) -> list[tuple[str, str, str]]:
    return list(
        AuditEvent.objects.filter(conversation=conversation).values_list(
            "action", "from_status", "to_status"
        )
    )


def test_handoff_queues_the_chat_with_a_ticket_and_is_idempotent():
    conversation = handed_off()
    assert conversation.status == S.QUEUED
    ticket = HandoffTicket.objects.get(conversation=conversation)
    assert ticket.reason == "explicit_request" and ticket.summary == "wants a human"
    with transaction.atomic():
        assert enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {}) is None
    assert HandoffTicket.objects.filter(conversation=conversation).count() == 1
    assert audit_trail(conversation) == [("enqueue_handoff", "bot", "queued")]
    assert Message.objects.get(conversation=conversation).data["event"] == "queued"


def test_claim_then_resolve_is_audited_with_actor(make_agent):
    alex = make_agent("alex")
    conversation = handed_off()
    claim_conversation(conversation.pk, alex)
    resolve_conversation(conversation.pk, alex)
    conversation.refresh_from_db()
    assert conversation.status == S.RESOLVED and conversation.assigned_agent is None
    assert audit_trail(conversation) == [
        ("enqueue_handoff", "bot", "queued"),
        ("claim", "queued", "assigned"),
        ("resolve", "assigned", "resolved"),
    ]
    assert AuditEvent.objects.filter(conversation=conversation, actor=alex).count() == 2
    ticket = HandoffTicket.objects.get(conversation=conversation)
    assert ticket.agent == alex and ticket.assigned_at and ticket.resolved_at


def test_second_claim_loses_and_other_agents_cannot_resolve(make_agent):
    alex, bea = make_agent("alex"), make_agent("bea")
    conversation = handed_off()
    claim_conversation(conversation.pk, alex)
    with pytest.raises(TransitionError) as lost:
        claim_conversation(conversation.pk, bea)
    assert lost.value.code == "already_claimed"
    with pytest.raises(TransitionError) as not_yours:
        resolve_conversation(conversation.pk, bea)
    assert not_yours.value.code == "not_yours"


def test_invalid_transition_is_refused_and_changes_nothing(make_agent):
    alex = make_agent("alex")
    conversation = Conversation.objects.create()
    with pytest.raises(TransitionError) as refused:
        claim_conversation(conversation.pk, alex)
    assert refused.value.code == "invalid_transition"
    conversation.refresh_from_db()
    assert conversation.status == S.BOT and not audit_trail(conversation)


def _race(workers) -> list:
    """Start every worker at the same moment; return what each returned or raised."""
    barrier = threading.Barrier(len(workers))
    results: list = [None] * len(workers)

    def run(index, work):
        close_old_connections()
        barrier.wait()
        try:
            results[index] = work()
        except Exception as error:  # noqa: BLE001 - the race's losers are the point
            results[index] = error
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_many_concurrent_claims_exactly_one_wins(make_agent):
    agents = [make_agent(f"agent{i}") for i in range(12)]
    conversation = handed_off()
    results = _race([lambda a=a: claim_conversation(conversation.pk, a) for a in agents])
    winners = [r for r in results if isinstance(r, Conversation)]
    losers = [r for r in results if isinstance(r, TransitionError)]
    assert len(winners) == 1 and len(losers) == len(agents) - 1
    assert {e.code for e in losers} == {"already_claimed"}
    conversation.refresh_from_db()
    assert conversation.assigned_agent == winners[0].assigned_agent
    assert AuditEvent.objects.filter(conversation=conversation, action="claim").count() == 1


def test_capacity_is_never_exceeded_under_concurrent_claims(make_agent):
    alex = make_agent("alex", capacity=2)
    chats = [handed_off() for _ in range(6)]
    results = _race([lambda c=c: claim_conversation(c.pk, alex) for c in chats])
    assert sum(isinstance(r, Conversation) for r in results) == 2
    assert {r.code for r in results if isinstance(r, TransitionError)} == {"at_capacity"}
    assert Conversation.objects.filter(assigned_agent=alex, status=S.ASSIGNED).count() == 2


def test_least_busy_dispatch_assigns_on_queue_and_when_capacity_frees(make_agent):
    queue = Queue.objects.create(name="Orders", routing_mode=RoutingMode.LEAST_BUSY)
    alex, bea = make_agent("alex", capacity=1), make_agent("bea", capacity=1)
    for user in (alex, bea):
        user.agent_profile.queues.set([queue])
        set_agent_status(user, "online")
    first, second, third = handed_off(queue), handed_off(queue), handed_off(queue)
    statuses = {c.pk: Conversation.objects.get(pk=c.pk).status for c in (first, second, third)}
    assert statuses == {first.pk: S.ASSIGNED, second.pk: S.ASSIGNED, third.pk: S.QUEUED}
    owners = {Conversation.objects.get(pk=c.pk).assigned_agent for c in (first, second)}
    assert owners == {alex, bea}
    holder = Conversation.objects.get(pk=first.pk).assigned_agent
    resolve_conversation(first.pk, holder)
    third.refresh_from_db()
    assert third.status == S.ASSIGNED and third.assigned_agent == holder


def test_round_robin_takes_turns(make_agent):
    queue = Queue.objects.create(name="Billing", routing_mode=RoutingMode.ROUND_ROBIN)
    agents = [make_agent(n, capacity=5) for n in ("alex", "bea", "cy")]
    for user in agents:
        user.agent_profile.queues.set([queue])
        set_agent_status(user, "online")
    owners = [handed_off(queue) for _ in range(6)]
    order = [Conversation.objects.get(pk=c.pk).assigned_agent.username for c in owners]
    assert sorted(order[:3]) == ["alex", "bea", "cy"]
    assert order[3:] == order[:3]


def test_agent_going_offline_requeues_their_chats(make_agent):
    alex = make_agent("alex")
    conversation = handed_off()
    claim_conversation(conversation.pk, alex)
    set_agent_status(alex, "offline")
    conversation.refresh_from_db()
    assert conversation.status == S.QUEUED and conversation.assigned_agent is None
    assert audit_trail(conversation)[-1] == ("requeue", "assigned", "queued")


def test_transfer_to_agent_and_to_queue(make_agent):
    alex, bea = make_agent("alex"), make_agent("bea")
    billing = Queue.objects.create(name="Billing")
    conversation = handed_off()
    claim_conversation(conversation.pk, alex)
    transfer_to_agent(conversation.pk, alex, bea, note="VIP customer")
    conversation.refresh_from_db()
    assert conversation.assigned_agent == bea
    assert conversation.private_notes.get().text == "VIP customer"
    transfer_to_queue(conversation.pk, bea, billing)
    conversation.refresh_from_db()
    assert conversation.status == S.QUEUED and conversation.queue == billing
    assert [a for a, _, _ in audit_trail(conversation)][-2:] == [
        "transfer_to_agent",
        "transfer_to_queue",
    ]


def test_customer_leaving_the_queue_abandons_and_a_late_claim_fails(make_agent):
    alex = make_agent("alex")
    conversation = handed_off()
    end_chat_by_customer(conversation.pk)
    with pytest.raises(TransitionError):
        claim_conversation(conversation.pk, alex)
    conversation.refresh_from_db()
    assert conversation.status == S.ABANDONED


def test_requeue_of_a_chat_that_is_not_assigned_is_refused():
    conversation = handed_off()
    with pytest.raises(TransitionError):
        requeue_conversation(conversation.pk)


def test_queue_positions_follow_arrival_order_with_capacity_based_estimate(make_agent):
    queue = Queue.objects.create(name="Orders")
    alex = make_agent("alex", capacity=2)
    alex.agent_profile.queues.set([queue])
    set_agent_status(alex, "online")
    chats = [handed_off(queue) for _ in range(4)]
    positions = {c.pk: f for c, f in queue_positions(queue)}
    assert [positions[c.pk]["position"] for c in chats] == [1, 2, 3, 4]
    # Two free places: the first two are picked up now, then one handle time per 2 chats.
    assert [positions[c.pk]["eta_seconds"] for c in chats] == [0, 0, 300, 300]


@pytest.mark.parametrize(
    ("position", "free", "slots", "handle", "expected"),
    [(1, 0, 0, 300, None), (1, 1, 3, 300, 0), (4, 1, 3, 300, 300), (7, 0, 3, 120, 360)],
)
def test_eta_counts_capacity_not_heads(position, free, slots, handle, expected):
    assert eta_seconds(position, free, slots, handle) == expected


def test_claim_racing_the_customer_leaving_ends_in_one_consistent_state(make_agent):
    alex = make_agent("alex")
    for _ in range(5):
        conversation = handed_off()
        results = _race(
            [
                lambda c=conversation: claim_conversation(c.pk, alex),
                lambda c=conversation: end_chat_by_customer(c.pk),
            ]
        )
        conversation.refresh_from_db()
        trail = [a for a, _, _ in audit_trail(conversation)]
        if conversation.status == S.ABANDONED:
            assert trail == ["enqueue_handoff", "abandon"]
            assert isinstance(results[0], TransitionError)
        else:
            assert conversation.status == S.CLOSED  # claimed first, then the customer left
            assert trail == ["enqueue_handoff", "claim", "close"]
        assert conversation.assigned_agent is None


def test_transfer_racing_resolve_never_leaves_a_resolved_chat_assigned(make_agent):
    alex, bea = make_agent("alex"), make_agent("bea")
    for _ in range(5):
        conversation = handed_off()
        claim_conversation(conversation.pk, alex)
        _race(
            [
                lambda c=conversation: transfer_to_agent(c.pk, alex, bea),
                lambda c=conversation: resolve_conversation(c.pk, alex),
            ]
        )
        conversation.refresh_from_db()
        trail = [a for a, _, _ in audit_trail(conversation)]
        if conversation.status == S.RESOLVED:
            assert conversation.assigned_agent is None
            assert trail[-1] == "resolve"
        else:
            assert conversation.status == S.ASSIGNED and conversation.assigned_agent == bea
            assert trail[-1] == "transfer_to_agent"
