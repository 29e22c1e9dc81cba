"""Django admin shows conversations with their transcripts, messages and agents."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from handoff_hub.messaging import append_message, lock_conversation
from handoff_hub.models import Conversation, TrackerEvents

pytestmark = pytest.mark.django_db


def test_admin_lists_conversations_messages_and_agents(client, make_agent):
    make_agent("alex")
    conversation = Conversation.objects.create(customer_id="cust-7")
    with transaction.atomic():
        append_message(lock_conversation(conversation.pk), "customer", "<b>hi</b> from the shop")
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    for url in (
        "/admin/hub/conversation/",
        "/admin/hub/message/",
        "/admin/hub/agentprofile/",
        "/admin/hub/queue/",
        f"/admin/hub/conversation/{conversation.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    detail = client.get(f"/admin/hub/conversation/{conversation.pk}/change/").content.decode()
    assert "&lt;b&gt;hi&lt;/b&gt; from the shop" in detail  # escaped, in the transcript inline
    search = client.get("/admin/hub/conversation/?q=from+the+shop").content.decode()
    assert str(conversation.public_id) in search


@pytest.mark.django_db(transaction=True)
def test_admin_actions_go_through_the_state_machine(client, make_agent):
    from handoff_hub.models import AuditEvent
    from handoff_hub.transitions import claim_conversation, enqueue_handoff

    alex = make_agent("alex")
    chats = []
    for _ in range(2):
        conversation = Conversation.objects.create()
        with transaction.atomic():
            enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {})
        chats.append(conversation)
    claim_conversation(chats[0].pk, alex)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    response = client.post(
        "/admin/hub/conversation/",
        {"action": "requeue_selected", "_selected_action": [c.pk for c in chats]},
        follow=True,
    )
    text = response.content.decode()
    assert "Re-queued: 1 conversation(s)." in text
    assert "Cannot requeue a conversation that is queued." in text
    chats[0].refresh_from_db()
    assert chats[0].status == "queued"
    assert AuditEvent.objects.filter(conversation=chats[0], action="requeue", actor=root).exists()
    client.post(
        "/admin/hub/conversation/",
        {"action": "resolve_selected", "_selected_action": [chats[1].pk]},
    )
    chats[1].refresh_from_db()
    assert chats[1].status == "resolved"


def test_roles_exist_as_groups_with_their_permissions():
    from django.contrib.auth.models import Group

    agent = set(Group.objects.get(name="Agent").permissions.values_list("codename", flat=True))
    supervisor = set(
        Group.objects.get(name="Supervisor").permissions.values_list("codename", flat=True)
    )
    admin = set(Group.objects.get(name="Admin").permissions.values_list("codename", flat=True))
    assert {"view_conversation", "add_privatenote"} <= agent
    assert "change_queue" not in agent and "change_queue" in supervisor
    assert {"add_webhook", "delete_queue", "change_cannedresponse"} <= admin


def test_admin_shows_the_whole_tracker_escaped_and_lets_nobody_edit_it(client):
    snapshot = {"sender_id": "s", "events": [{"event": "user", "text": "<i>first</i>"}]}
    conversation = Conversation.objects.create(
        tracker_state=snapshot, tracker_version=3, tracker_base_version=2
    )
    later = [{"event": "user", "text": "<i>second</i>"}]
    TrackerEvents.objects.create(conversation=conversation, version=3, events=json.dumps(later))
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    detail = client.get(f"/admin/hub/conversation/{conversation.pk}/change/").content.decode()
    # The snapshot and the turn stored after it, shown as one tracker, escaped.
    assert "&lt;i&gt;first&lt;/i&gt;" in detail and "&lt;i&gt;second&lt;/i&gt;" in detail
    assert "<i>" not in detail
    assert 'name="tracker_state"' not in detail and 'name="tracker_base_version"' not in detail


def test_an_admin_edit_keeps_what_the_message_path_wrote_meanwhile(rf):
    from django.contrib.admin.sites import site

    conversation = Conversation.objects.create(customer_id="cust-1")
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    request = rf.post("/admin/hub/conversation/")
    request.user = root
    model_admin = site._registry[Conversation]
    opened = Conversation.objects.get(pk=conversation.pk)  # what the admin form was built on
    with transaction.atomic():  # a customer message lands while the admin edits
        append_message(lock_conversation(conversation.pk), "customer", "still here")
    form_class = model_admin.get_form(request, opened, change=True)
    data = {"channel": "web", "customer_id": "cust-1-renamed", "customer_metadata": "{}"}
    data.update({"site": "", "rating_comment": "", "rating": ""})
    form = form_class(data, instance=opened)
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    conversation.refresh_from_db()
    assert conversation.customer_id == "cust-1-renamed"
    assert conversation.last_seq == 1
    assert conversation.messages.count() == 1


def _change_form(client, conversation, **changes) -> tuple[str, dict]:
    """The conversation's admin change page, and its form's data as shown, with `changes`."""
    url = f"/admin/hub/conversation/{conversation.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update({"customer_metadata": "{}", **changes})
    for prefix in ("messages", "audit_events"):  # the inlines, unchanged
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return url, data


def test_moving_a_waiting_chat_to_another_queue_in_admin_is_a_transfer(client):
    from handoff_hub.models import AuditEvent, HandoffTicket, Queue
    from handoff_hub.transitions import enqueue_handoff

    support = Queue.objects.create(name="Support", is_default=True)
    billing = Queue.objects.create(name="Billing")
    conversation = Conversation.objects.create(customer_id="cust-9")
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {})
    conversation.refresh_from_db()
    assert conversation.queue == support
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    url, data = _change_form(client, conversation, queue=billing.pk)
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    conversation.refresh_from_db()
    assert conversation.queue == billing and conversation.status == "queued"
    assert HandoffTicket.objects.get(conversation=conversation).queue == billing
    assert AuditEvent.objects.filter(
        conversation=conversation, action="transfer_to_queue", actor=root
    ).exists()


def test_a_refused_queue_transfer_in_admin_is_a_form_error_and_saves_nothing(client, make_agent):
    from django.contrib.auth.models import Group

    from handoff_hub.models import AuditEvent, Queue
    from handoff_hub.transitions import claim_conversation, enqueue_handoff

    billing = Queue.objects.create(name="Billing")
    alex = make_agent("alex")
    conversation = Conversation.objects.create(customer_id="cust-7")
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {})
    claim_conversation(conversation.pk, alex)
    # Staff in the Supervisor group, but no supervising agent: someone else's chat is not theirs.
    lead = get_user_model().objects.create_user("lead", password="pw", is_staff=True)
    lead.groups.add(Group.objects.get(name="Supervisor"))
    client.force_login(lead)
    url, data = _change_form(client, conversation, queue=billing.pk, customer_id="cust-7-renamed")
    response = client.post(url, data)
    assert response.status_code == 200  # the change form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert errors["queue"] == ["This conversation is assigned to another agent."]
    assert "changed successfully" not in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.customer_id == "cust-7"
    assert conversation.status == "assigned" and conversation.queue.name == "Support"
    assert not AuditEvent.objects.filter(conversation=conversation, action="transfer_to_queue")


def test_a_transfer_refused_after_the_forms_check_saves_nothing_and_says_so(
    client, make_agent, monkeypatch
):
    """The race the form's check cannot see: the chat changes between that check and the
    transfer's row lock. The edit's other fields are not saved, and no success is claimed."""
    from handoff_hub.admin import ConversationForm
    from handoff_hub.models import AuditEvent, Queue
    from handoff_hub.transitions import claim_conversation, enqueue_handoff

    billing = Queue.objects.create(name="Billing")
    alex = make_agent("alex")
    conversation = Conversation.objects.create(customer_id="cust-8")
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {})
    # Staff with an agent profile, in the Supervisor group: may move a waiting chat, not
    # another agent's.
    lead = make_agent("lead")
    lead.is_staff = True
    lead.save()
    lead.groups.add(Group.objects.get(name="Supervisor"))
    client.force_login(lead)
    url, data = _change_form(client, conversation, queue=billing.pk, customer_id="cust-8-renamed")
    checked = ConversationForm.clean

    def check_then_claimed_elsewhere(form):
        cleaned = checked(form)  # the chat is waiting: the lead may move it
        claim_conversation(conversation.pk, alex)  # now it is someone else's chat
        return cleaned

    monkeypatch.setattr(ConversationForm, "clean", check_then_claimed_elsewhere)
    response = client.post(url, data, follow=True)
    page = response.content.decode()
    assert "Nothing was saved: This conversation is assigned to another agent." in page
    assert "changed successfully" not in page
    conversation.refresh_from_db()
    assert conversation.customer_id == "cust-8"
    assert conversation.queue.name == "Support"
    assert not AuditEvent.objects.filter(conversation=conversation, action="transfer_to_queue")
