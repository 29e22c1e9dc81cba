"""Real Chromium: hostile text stays inert, dropped connections lose nothing, chats stay apart."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_skeleton_journey import customer_says, login_console, open_widget

pytestmark = [pytest.mark.browser]

HOSTILE = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    '"><svg onload="window.__xss=1">',
    "[click me](javascript:window.__xss=1)",
    "{{7*7}} ${7*7} <b>bold</b>",
]


def handed_off_chat(live_hub, new_context, agent: str, prepare=None):
    live_hub.create_agent(agent, f"{agent}-pass-1", name=agent.title())
    console = new_context().new_page()
    login_console(console, live_hub.url, agent, f"{agent}-pass-1")
    customer_page = new_context().new_page()
    if prepare:
        prepare(customer_page)
    widget = open_widget(customer_page, live_hub.url)
    customer_says(widget, "I want to talk to a human")
    expect(widget.locator(".hh-status")).to_have_text("Waiting for an agent…")
    console.locator("#conversation-list li").first.click()
    console.click("#claim")
    expect(widget.locator(".hh-status")).to_have_text("Chatting with our team")
    return console, customer_page, widget


def agent_says(console, text: str) -> None:
    console.fill("#reply", text)
    console.press("#reply", "Enter")


def test_hostile_text_from_customer_agent_and_bot_renders_inert(live_hub, new_context):
    console, customer_page, widget = handed_off_chat(live_hub, new_context, "xena")
    for payload in HOSTILE:
        customer_says(widget, payload)
        agent_says(console, payload)
    session = json.loads(customer_page.evaluate("Object.values(localStorage)[0]"))
    assert session["token"]  # the widget keeps only its signed token in storage
    _store_bot_messages(live_hub, "xena", HOSTILE)
    customer_page.reload()
    widget = customer_page.locator("#handoff-hub-widget")
    for payload in HOSTILE:
        expect(widget.locator(".hh-msg.hh-customer", has_text=payload).first).to_be_visible()
        # Bot and agent text get safe markdown: a javascript: link stays its plain label.
        shown = "click me" if payload.startswith("[click me]") else payload
        expect(widget.locator(".hh-msg.hh-agent", has_text=shown).first).to_be_visible()
        expect(widget.locator(".hh-msg.hh-bot", has_text=shown).first).to_be_visible()
    assert widget.locator("a").count() == 0  # no link was made from a javascript: URL
    console.reload()
    expect(console.locator("#conn")).to_have_text("Online")
    console.click("[data-tab=mine]")
    console.locator("#conversation-list li").first.click()
    for payload in HOSTILE:
        expect(console.locator("#transcript li.customer", has_text=payload).first).to_be_visible()
    for page in (customer_page, console):
        assert page.evaluate("window.__xss") is None
        assert (
            page.locator(
                'img[src=x], svg[onload], script:not([src]):not([type="application/json"])'
            ).count()
            == 0
        )
    injected = widget.evaluate(
        "host => host.shadowRoot.querySelectorAll('img[src=x], svg, script, b').length"
    )
    assert injected == 1  # only the widget's own launcher icon (an svg) exists


def _store_bot_messages(live_hub, agent: str, texts: list[str]) -> None:
    """Bot text can come from any assistant: store hostile bot messages in the live chat."""
    script = (
        "import json,sys\n"
        "from django.db import transaction\n"
        "from handoff_hub.messaging import append_message, lock_conversation\n"
        "from handoff_hub.models import Conversation\n"
        f"texts = json.loads({json.dumps(json.dumps(texts))})\n"
        f"c = Conversation.objects.filter(assigned_agent__username='{agent}').latest('pk')\n"
        "with transaction.atomic():\n"
        "    locked = lock_conversation(c.pk)\n"
        "    for t in texts: append_message(locked, 'bot', t)\n"
    )
    live_hub.manage("shell", "-c", script)


def test_dropped_customer_connection_catches_up_without_loss_or_duplicates(live_hub, new_context):
    network = {"down": False, "sockets": []}

    def route(socket) -> None:
        if network["down"]:
            socket.close()  # the network is down: every reconnect attempt fails
            return
        socket.connect_to_server()
        network["sockets"].append(socket)

    console, customer_page, widget = handed_off_chat(
        live_hub,
        new_context,
        "dora",
        prepare=lambda page: page.route_web_socket(re.compile(r".*/ws/chat/$"), route),
    )
    network["down"] = True
    for socket in network["sockets"]:
        socket.close()
    expect(widget.locator(".hh-status")).to_have_text("Reconnecting…", timeout=15_000)
    sent = [f"while you were away {n}" for n in range(5)]
    for text in sent:
        agent_says(console, text)
    expect(console.locator("#transcript")).to_contain_text(sent[-1])
    network["down"] = False
    expect(widget.locator(".hh-status")).to_have_text("Chatting with our team", timeout=20_000)
    agent_messages = widget.locator(".hh-msg.hh-agent .hh-text")
    expect(agent_messages).to_have_count(len(sent))
    assert agent_messages.all_inner_texts() == sent
    customer_says(widget, "back online")
    expect(console.locator("#transcript")).to_contain_text("back online")


def test_second_customer_cannot_see_the_first_chat_and_reload_restores_history(
    live_hub, new_context
):
    first = new_context().new_page()
    widget = open_widget(first, live_hub.url)
    customer_says(widget, "my order NW-31337 is secret")
    expect(widget.locator(".hh-msg.hh-bot").first).to_be_visible()
    first.reload()
    restored = first.locator("#handoff-hub-widget")
    expect(restored.locator(".hh-log")).to_contain_text("my order NW-31337 is secret")

    second = new_context().new_page()
    other = open_widget(second, live_hub.url)
    customer_says(other, "hello")
    expect(other.locator(".hh-msg.hh-bot").first).to_be_visible()
    assert "NW-31337" not in other.locator(".hh-log").inner_text()


def test_phone_and_desktop_screenshots(live_hub, new_context):
    phone = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    widget = open_widget(page, live_hub.url)
    customer_says(widget, "where is my order?")
    expect(widget.locator(".hh-msg.hh-bot").first).to_be_visible()
    panel = widget.locator(".hh-panel")
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "widget-phone")
    live_hub.create_agent("pat", "pat-pass-1", name="Pat")
    console = new_context(viewport={"width": 390, "height": 844}).new_page()
    login_console(console, live_hub.url, "pat", "pat-pass-1")
    screenshot(console, "console-phone")
