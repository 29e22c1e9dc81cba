"""Assistant versions in the running hub: which version answers, switching on activation
(in this process and another), turns in flight, one active version per site under races."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import IntegrityError, close_old_connections, connection, transaction

from handoff_hub import engine
from handoff_hub.assistants import actions
from handoff_hub.assistants.models import (
    Activation,
    AssistantVersion,
    Deployment,
)
from handoff_hub.customer_actions import receive_customer_message
from handoff_hub.models import Conversation
from tests.hub.conftest import ONE, TWO, a_chat_switches_version_on_activation, say

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def greet(conversation: Conversation) -> str:
    turn = receive_customer_message(conversation.pk, "hello")
    return turn.bot_replies[0].text


async def test_activating_a_version_switches_a_running_chat_on_its_next_turn(make_version):
    await a_chat_switches_version_on_activation(make_version)


def test_a_turn_in_flight_finishes_on_the_version_it_started_with(make_version, monkeypatch):
    first = make_version(ONE)
    second = make_version(TWO)
    actions.activate_version(first)
    conversation = Conversation.objects.create()
    loaded = engine.assistant_for(conversation)
    assert loaded.version_id == first.pk
    entered, release = threading.Event(), threading.Event()
    real_handle = loaded.assistant.handle

    def slow_handle(*args, **kwargs):
        result = real_handle(*args, **kwargs)
        entered.set()
        assert release.wait(10)
        return result

    monkeypatch.setattr(loaded.assistant, "handle", slow_handle)
    replies: list[str] = []

    def customer_turn() -> None:
        try:
            replies.append(greet(conversation))
        finally:
            close_old_connections()

    worker = threading.Thread(target=customer_turn)
    worker.start()
    assert entered.wait(10)
    actions.activate_version(second)  # lands while the turn is computing
    release.set()
    worker.join(10)
    assert replies == [ONE]
    conversation.refresh_from_db()
    assert conversation.assistant_version_id == first.pk and conversation.tracker_version == 1
    assert greet(conversation) == TWO
    conversation.refresh_from_db()
    assert conversation.assistant_version_id == second.pk and conversation.last_seq == 4


def test_the_most_specific_site_key_wins_and_the_assistant_path_is_the_fallback(make_version):
    web = Conversation.objects.create(channel="web")
    shop = Conversation.objects.create(channel="web", site="shop")
    rest = Conversation.objects.create(channel="rest")
    assert engine.assistant_for(web).version_id is None  # HUB_ASSISTANT_PATH answers
    assert "Hi! I'm the Northwind assistant" in greet(web)
    first, second = make_version(ONE), make_version(TWO)
    actions.activate_version(first, "shop")
    actions.activate_version(second, "rest")
    assert greet(shop) == ONE and greet(rest) == TWO
    assert "Northwind" in greet(web)
    actions.activate_version(first)  # the default for every other site
    assert greet(web) == ONE
    web.refresh_from_db()
    assert web.assistant_version_id == first.pk


def test_an_activation_in_another_process_reaches_this_one(make_version, hub_settings):
    hub_settings.HUB = {**hub_settings.HUB, "ASSISTANT_REFRESH_SECONDS": 0.5}
    first, second = make_version(ONE), make_version(TWO)
    actions.activate_version(first)
    conversation = Conversation.objects.create()
    assert greet(conversation) == ONE  # this process has read the deployments now
    env = {**os.environ, "DATABASE_URL": _database_url()}
    subprocess.run(
        [sys.executable, "manage.py", "activate_assistant", "Bot", str(second.number)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    assert Deployment.objects.get(site="").version_id == second.pk
    time.sleep(0.6)  # at most ASSISTANT_REFRESH_SECONDS until this process looks again
    assert greet(conversation) == TWO


def _database_url() -> str:
    """A URL for the test database this test runs on, for a second process."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_concurrent_activations_leave_exactly_one_active_version_per_site(make_version):
    versions = [make_version(f"Hello from version {n}!") for n in range(6)]
    barrier = threading.Barrier(len(versions))
    errors: list[Exception] = []

    def activate(version: AssistantVersion) -> None:
        try:
            Deployment.objects.exists()  # connect first, so the activations start together
            barrier.wait(10)
            actions.activate_version(version, "shop")
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    deployment = Deployment.objects.get(site="shop")
    assert deployment.generation == len(versions)
    # The history is one chain: each activation replaced the one committed before it.
    chain, activation = [], deployment.activation
    while activation is not None:
        chain.append(activation.version_id)
        activation = activation.replaces
    assert sorted(chain) == sorted(v.pk for v in versions)
    assert chain[0] == deployment.version_id
    assert Activation.objects.filter(site="shop").count() == len(versions)


def test_the_database_refuses_a_second_active_version_for_a_site(make_version):
    first, second = make_version(ONE), make_version(TWO)
    deployment = actions.activate_version(first, "shop")
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.create(
            site="shop",
            version=second,
            activation=deployment.activation,
            activated_at=deployment.activated_at,
        )
    with pytest.raises(actions.LifecycleError, match="already active"):
        actions.activate_version(first, "shop")
    with pytest.raises(actions.LifecycleError, match="lower-case letters"):
        actions.activate_version(first, "Not A Key!")


def test_rollback_walks_back_through_the_history(make_version):
    one, two, three = make_version("one"), make_version("two"), make_version("three")
    for version in (one, two, three):
        actions.activate_version(version)
    assert actions.rollback_site().version == two
    assert actions.rollback_site().version == one
    with pytest.raises(actions.LifecycleError, match="no earlier version"):
        actions.rollback_site()
    actions.activate_version(three)
    assert actions.rollback_site().version == one  # back to what ran before the activation


def test_setup_demo_deploys_the_demo_assistant_once_however_often_it_runs(hub_settings):
    call_command("setup_demo", no_seed=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    call_command("setup_demo", no_seed=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    version = AssistantVersion.objects.get()
    assert version.assistant.name == "Northwind demo"
    assert version.validation_status == "valid" and version.is_trained
    assert Deployment.objects.get(site="").version == version
    assert Activation.objects.count() == 1
    conversation = Conversation.objects.create()
    assert "Northwind assistant" in greet(conversation)
    conversation.refresh_from_db()
    assert conversation.assistant_version == version


async def test_the_widgets_site_key_picks_the_version_and_bad_keys_get_an_error_frame(
    make_version,
):
    from channels.testing import WebsocketCommunicator

    from handoff_hub.asgi import application
    from tests.hub.conftest import ORIGIN, Peer

    shop_version = await database_sync_to_async(make_version)(ONE)
    await database_sync_to_async(actions.activate_version)(shop_version, "shop")
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    assert (await communicator.connect())[0]
    widget = Peer(communicator)
    await widget.send({"type": "hello", "site": "Not a key!"})
    error = await widget.until(lambda f: f["type"] == "error")
    assert error["code"] == "bad_field" and "'site'" in error["message"]
    await widget.send({"type": "hello", "site": "shop"})
    welcome = await widget.until(lambda f: f["type"] == "welcome")
    await say(widget, "hello", "s1")
    reply = await widget.until(lambda f: f["type"] == "message" and f["sender"] == "bot")
    assert reply["text"] == ONE  # the shop's version, not the demo assistant of everyone else
    stored = await Conversation.objects.aget(public_id=welcome["conversation"])
    assert stored.site == "shop" and stored.assistant_version_id == shop_version.pk
    await widget.close()
