"""Console pages: login required, agents only, the supervisors' dashboard figures."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agent_console.dashboard import dashboard_figures
from handoff_hub.agents import set_agent_status
from handoff_hub.messaging import lock_conversation
from handoff_hub.models import Conversation, HandoffTicket
from handoff_hub.transitions import claim_conversation, enqueue_handoff

pytestmark = pytest.mark.django_db(transaction=True)


def handed_off() -> Conversation:
    conversation = Conversation.objects.create()
    with transaction.atomic():
        enqueue_handoff(lock_conversation(conversation.pk), "explicit_request", {})
    return conversation


def test_console_requires_login_and_an_agent_profile(client):
    assert client.get("/console/").status_code == 302
    client.force_login(get_user_model().objects.create_user("visitor", password="x"))
    assert client.get("/console/").status_code == 403


def test_console_page_hands_its_data_to_the_script_as_escaped_json(client, make_agent):
    alex = make_agent("alex")
    alex.agent_profile.display_name = "</script><script>alert(1)</script>"
    alex.agent_profile.save()
    client.force_login(alex)
    page = client.get("/console/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert '<script id="console-data" type="application/json">' in page


def test_dashboard_is_for_supervisors_only(client, make_agent):
    client.force_login(make_agent("alex"))
    assert client.get("/console/dashboard/").status_code == 403
    client.force_login(make_agent("boss", supervisor=True))
    page = client.get("/console/dashboard/")
    assert page.status_code == 200 and b"chart-hourly" in page.content


def test_dashboard_figures_count_waiting_busy_and_hourly_handoffs(make_agent):
    alex = make_agent("alex", capacity=2)
    set_agent_status(alex, "online")
    first, _second, _third = handed_off(), handed_off(), handed_off()
    claim_conversation(first.pk, alex)
    HandoffTicket.objects.filter(conversation=first).update(
        enqueued_at=timezone.now() - timedelta(hours=2)
    )
    figures = dashboard_figures()
    assert figures["queues"] == [
        {
            "name": "Support",
            "waiting": 2,
            "oldest_wait_seconds": figures["queues"][0]["oldest_wait_seconds"],
        }
    ]
    assert figures["agents"] == {"online": 1, "busy": 1, "away": 0, "chats": 1, "capacity": 2}
    hourly = figures["handoffs_per_hour"]
    assert len(hourly) == 24 and sum(h["count"] for h in hourly) == 3
    assert hourly[-1]["count"] == 2 and hourly[-3]["count"] == 1
