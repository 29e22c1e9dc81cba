"""Admins and supervisors in a real browser: an assistant version uploaded, trained (with live
progress), tested and activated in Django admin, then answering in the widget; and the
analytics dashboard with its charts, filters and CSV download."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_skeleton_journey import customer_says, login_console, open_widget
from tests.hub.assistant_projects import project_zip

pytestmark = [pytest.mark.browser]
GREETING = "Hello from the version uploaded in admin!"


def login_admin(page, url: str, username: str, password: str) -> None:
    page.goto(url + "/admin/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()


def test_admin_uploads_trains_tests_and_activates_a_version(live_hub, new_context, tmp_path):
    live_hub.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "from handoff_hub.assistants.models import Assistant; "
        "get_user_model().objects.create_superuser('root', 'root@example.com', 'root-pass-1'); "
        "Assistant.objects.create(name='Shop bot')",
    )
    archive = tmp_path / "shop-bot.zip"
    archive.write_bytes(project_zip(prefix="shop-bot/", greeting=GREETING))
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    login_admin(page, live_hub.url, "root", "root-pass-1")
    try:
        page.goto(live_hub.url + "/admin/hub/assistantversion/add/")
        page.select_option("select[name=assistant]", label="Shop bot")
        page.set_input_files("input[name=archive]", str(archive))
        page.click("input[value='Add version']")
        expect(page.locator(".messagelist")).to_contain_text("Shop bot v1 added: Valid.")

        page.click("button:has-text('Train')")
        expect(page.locator(".messagelist")).to_contain_text("Training Shop bot v1")
        # The page polls the job and reloads when it ends.
        expect(page.get_by_test_id("training-status")).to_contain_text("Trained", timeout=60_000)
        page.click("button:has-text('Run tests')")
        expect(page.get_by_test_id("test-status")).to_have_text(
            "2 passed, 0 failed", timeout=60_000
        )
        page.click("button:has-text('Activate')")
        expect(page.locator(".messagelist")).to_contain_text("now active for every site")
        expect(page.get_by_test_id("active-on")).to_have_text("Active on every site")
        screenshot(page, "admin-assistant-version")

        widget = open_widget(new_context().new_page(), live_hub.url)
        customer_says(widget, "hello")
        expect(widget.locator(".hh-msg.hh-bot").last).to_contain_text(GREETING)
    finally:  # the other browser tests talk to the demo assistant (HUB_ASSISTANT_PATH)
        live_hub.manage(
            "shell",
            "-c",
            "from handoff_hub.assistants.models import Deployment; "
            "Deployment.objects.all().delete()",
        )


def test_supervisor_reads_analytics_filters_them_and_downloads_csv(live_hub, new_context):
    live_hub.manage("seed_demo_analytics", "--days", "7", "--per-day", "8", "--seed", "5")
    live_hub.manage(
        "create_agent", "lena", "--password", "lena-pass-1", "--name", "Lena", "--supervisor"
    )
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        login_console(page, live_hub.url, "lena", "lena-pass-1")
        page.click("a:has-text('Analytics')")
        expect(page).to_have_url(live_hub.url + "/analytics/")
        expect(page.get_by_test_id("conversations")).not_to_have_text("0")
        expect(page.locator("svg.chart")).to_have_count(5)
        expect(page.locator("svg.chart").first.locator("rect").first).to_be_visible()
        expect(page.get_by_test_id("by-agent")).to_contain_text("Priya (Billing)")
        screenshot(page, "analytics-desktop")

        page.select_option("select[name=queue]", label="Billing")
        page.click("button:has-text('Apply')")
        expect(page.locator(".note")).to_contain_text("containment is 0 by definition")
        expect(page.get_by_test_id("containment")).to_have_text("0.0 %")
        with page.expect_download() as download:
            page.get_by_test_id("csv-link").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert text.splitlines()[0] == "section,key,metric,value"
        assert "by_queue,Billing,handoffs," in text and "by_queue,Support" not in text
    finally:  # leave the live hub as the other browser tests expect it
        live_hub.manage(
            "shell",
            "-c",
            "from handoff_hub.analytics.demo_month import seeded_conversations; "
            "seeded_conversations().delete()",
        )
