"""The whole journey in two browsers: bot, NLU fallback, two-stage fallback, handoff, agent,
back to the bot, a second handoff, resolution and the customer's rating."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_skeleton_journey import customer_says, login_console, open_widget

pytestmark = [pytest.mark.browser]


def test_full_journey_from_bot_to_agent_and_back(live_hub, new_context):
    live_hub.create_agent("sam", "sam-pass-1", name="Sam")
    live_hub.manage(
        "shell",
        "-c",
        "from handoff_hub.models import CannedResponse; CannedResponse.objects.get_or_create("
        "shortcut='thanks', defaults={'text': 'Thanks for waiting, I am {agent_name}.'})",
    )
    console = new_context().new_page()
    login_console(console, live_hub.url, "sam", "sam-pass-1")
    customer_page = new_context().new_page()
    widget = open_widget(customer_page, live_hub.url)

    customer_says(widget, "what are your opening hours?")
    expect(widget.locator(".hh-msg.hh-bot").last).to_contain_text("Monday to Saturday")

    # NLU fallback → "did you mean" → no → rephrase → still unclear → no → handoff.
    customer_says(widget, "blorp snarf wibble")
    expect(widget.locator(".hh-msg.hh-bot").last).to_contain_text("Did you mean")
    widget.locator(".hh-msg.hh-bot").last.locator("button", has_text="No").click()
    expect(widget.locator(".hh-msg.hh-bot").last).to_contain_text("other words")
    customer_says(widget, "zorg quux")
    expect(widget.locator(".hh-msg.hh-bot").last).to_contain_text("Did you mean")
    widget.locator(".hh-msg.hh-bot").last.locator("button", has_text="No").click()
    expect(widget.locator(".hh-status")).to_have_text("Waiting for an agent…")

    chat = console.locator("#conversation-list li").first
    expect(chat).to_contain_text("two stage fallback")
    chat.click()
    expect(console.locator("#context")).to_contain_text("Two-stage fallback exhausted")
    expect(console.locator("#context")).to_contain_text("zorg quux")
    expect(console.locator("#transcript")).to_contain_text("blorp snarf wibble")
    console.keyboard.press("Alt+c")  # claim
    expect(widget.locator(".hh-log")).to_contain_text("Sam joined the chat.")

    console.fill("#reply", "/tha")
    expect(console.locator("#canned")).to_contain_text("/thanks")
    console.press("#reply", "Tab")
    expect(console.locator("#reply")).to_have_value("Thanks for waiting, I am Sam.")
    console.press("#reply", "Enter")
    expect(widget.locator(".hh-msg.hh-agent").last).to_contain_text("I am Sam")

    console.keyboard.press("Alt+n")
    console.fill("#reply", "Customer typed gibberish twice, probably a bot test")
    console.press("#reply", "Enter")
    expect(console.locator("#transcript li.note")).to_contain_text("probably a bot test")
    console.keyboard.press("Alt+n")
    customer_says(widget, "ok thanks, I'm fine now")
    expect(console.locator("#transcript")).to_contain_text("I'm fine now")
    screenshot(console, "console-journey-desktop")

    console.click("#return-to-bot")
    expect(widget.locator(".hh-status")).to_have_text("Virtual assistant")
    expect(widget.locator(".hh-msg.hh-bot").last).to_contain_text("back with the Northwind")
    customer_says(widget, "how long does shipping take?")
    expect(widget.locator(".hh-msg.hh-bot").last).to_contain_text("Standard delivery")

    customer_says(widget, "actually, can I speak to a person?")
    expect(widget.locator(".hh-status")).to_have_text("Waiting for an agent…")
    console.click("[data-tab=queue]")
    console.locator("#conversation-list li").first.click()
    console.click("#claim")
    expect(widget.locator(".hh-status")).to_have_text("Chatting with our team")
    console.click("#resolve")
    expect(widget.locator(".hh-status")).to_have_text("Conversation resolved")
    rating = widget.locator("[data-testid=hh-rating]")
    expect(rating).to_be_visible()
    rating.locator(".hh-comment").fill("Sam was great")
    rating.locator("button[aria-label='5 out of 5']").click()
    expect(rating).to_contain_text("Thanks for your feedback!")
    assert customer_page.evaluate("window.__xss") is None
    assert "probably a bot test" not in widget.locator(".hh-log").inner_text()
    stored = live_hub.manage(
        "shell",
        "-c",
        "from handoff_hub.models import Conversation as C; "
        "c = C.objects.exclude(rating=None).get(); print(c.rating, c.rating_comment, c.status)",
    )
    assert stored.strip().splitlines()[-1] == "5 Sam was great resolved"


def test_supervisor_dashboard_draws_live_charts(live_hub, new_context):
    live_hub.manage("create_agent", "vera", "--password", "vera-pass-1", "--supervisor")
    page = new_context().new_page()
    login_console(page, live_hub.url, "vera", "vera-pass-1")
    page.click("text=Dashboard")
    expect(page.locator("#chart-hourly rect")).to_have_count(24)
    expect(page.locator("#chart-waiting rect").first).to_be_visible()
    expect(page.locator("#updated")).to_contain_text("Updated")
    screenshot(page, "dashboard-desktop")


def test_silent_customer_gets_a_check_in_from_the_bot(live_hub, new_context):
    page = new_context().new_page()
    widget = open_widget(page, live_hub.url)
    page.evaluate("window.HandoffHub.setSilenceTimeout(1)")
    customer_says(widget, "hello")
    expect(widget.locator(".hh-msg.hh-bot").last).to_contain_text("Are you still there?")
    assert "/silence_timeout" not in widget.locator(".hh-log").inner_text()


def test_console_list_shows_each_chats_latest_message_and_counts_the_unread(live_hub, new_context):
    live_hub.create_agent("kim", "kim-pass-1", name="Kim")
    console = new_context().new_page()
    login_console(console, live_hub.url, "kim", "kim-pass-1")
    first = open_widget(new_context().new_page(), live_hub.url)
    customer_says(first, "can I speak to a person?")
    expect(first.locator(".hh-status")).to_have_text("Waiting for an agent…")
    second = open_widget(new_context().new_page(), live_hub.url)
    customer_says(second, "I want to talk to a human")
    expect(second.locator(".hh-status")).to_have_text("Waiting for an agent…")

    chats = console.locator("#conversation-list li")
    expect(chats).to_have_count(2)
    chats.first.click()  # the first chat is on screen; the second is not
    customer_says(second, "hello? <b>anyone</b>")
    waiting = console.locator("#conversation-list li", has_text="hello?")
    expect(waiting.locator(".preview")).to_have_text("hello? <b>anyone</b>")  # as text
    waiting = console.locator(
        f"#conversation-list li[data-id='{waiting.get_attribute('data-id')}']"
    )
    expect(waiting.locator(".unread")).to_have_text("1")
    customer_says(second, "still waiting")
    expect(waiting.locator(".unread")).to_have_text("2")
    customer_says(first, "thanks for looking")
    on_screen = console.locator("#conversation-list li.active")
    expect(on_screen.locator(".preview")).to_have_text("thanks for looking")
    expect(on_screen.locator(".unread")).to_have_count(0)
    waiting.click()
    expect(console.locator("#transcript")).to_contain_text("still waiting")
    expect(console.locator("#conversation-list .unread")).to_have_count(0)
    # The hub is shared with the other browser tests: leave no chat waiting.
    for widget, row in ((second, waiting), (first, chats.first)):
        row.click()
        console.click("#claim")
        expect(widget.locator(".hh-status")).to_have_text("Chatting with our team")
        console.click("#resolve")
        expect(widget.locator(".hh-status")).to_have_text("Conversation resolved")
