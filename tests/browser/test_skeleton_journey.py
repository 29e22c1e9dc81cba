"""The skeleton path in real Chromium: customer widget and agent console in two contexts."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser]


def open_widget(page, hub_url: str):
    page.goto(hub_url + "/")
    page.locator("#handoff-hub-widget .hh-launcher").click()
    widget = page.locator("#handoff-hub-widget")
    expect(widget.locator(".hh-status")).to_have_text("Virtual assistant")
    return widget


def customer_says(widget, text: str) -> None:
    widget.locator(".hh-input").fill(text)
    widget.locator(".hh-input").press("Enter")


def login_console(page, hub_url: str, username: str, password: str) -> None:
    page.goto(hub_url + "/console/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("#conn")).to_have_text("Online")


def test_customer_hands_off_and_agent_takes_over_in_real_browsers(live_hub, new_context):
    live_hub.create_agent("alex", "alex-pass-1", name="Alex")
    agent_page = new_context().new_page()
    login_console(agent_page, live_hub.url, "alex", "alex-pass-1")

    customer_page = new_context().new_page()
    widget = open_widget(customer_page, live_hub.url)
    customer_says(widget, "hello")
    expect(widget.locator(".hh-msg.hh-bot").first).to_be_visible()
    expect(widget.locator(".hh-customer .hh-delivery").first).to_have_text("Delivered")

    customer_says(widget, "I want to talk to a human")
    expect(widget.locator(".hh-status")).to_have_text("Waiting for an agent…")
    expect(widget.locator("[data-testid=hh-queue]")).to_contain_text("number 1 in the queue")

    queued = agent_page.locator("#conversation-list li").first
    expect(queued).to_contain_text("explicit request")
    queued.click()
    transcript = agent_page.locator("#transcript")
    expect(transcript).to_contain_text("I want to talk to a human")
    expect(transcript.locator("li.bot").first).to_be_visible()
    expect(agent_page.locator("#context")).to_contain_text("Customer asked for a human")
    screenshot(agent_page, "console-queued-desktop")

    agent_page.click("#claim")
    expect(widget.locator(".hh-log")).to_contain_text("Alex joined the chat.")
    expect(widget.locator(".hh-status")).to_have_text("Chatting with our team")
    agent_page.fill("#reply", "Hi, this is Alex. How can I help?")
    agent_page.press("#reply", "Enter")
    agent_message = widget.locator(".hh-msg.hh-agent").last
    expect(agent_message).to_contain_text("Hi, this is Alex. How can I help?")
    expect(agent_message.locator(".hh-who")).to_have_text("Alex")

    bot_messages_before = widget.locator(".hh-msg.hh-bot").count()
    customer_says(widget, "My tent pole snapped")
    expect(transcript).to_contain_text("My tent pole snapped")
    customer_page.wait_for_timeout(500)
    assert widget.locator(".hh-msg.hh-bot").count() == bot_messages_before
    screenshot(customer_page, "widget-with-agent-desktop")

    customer_page.reload()
    widget = customer_page.locator("#handoff-hub-widget")
    expect(widget.locator(".hh-log")).to_contain_text("My tent pole snapped")
    expect(widget.locator(".hh-log")).to_contain_text(re.compile("Hi, this is Alex"))
