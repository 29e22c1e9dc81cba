"""A real hub (Daphne subprocess) and real headless Chromium (Debian's, via Playwright)."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from deploy.services import Daphne
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _fresh_database_url(workdir: str) -> str:
    """A database of its own for the live hub: a SQLite file, or a new PostgreSQL database."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        return f"sqlite:///{workdir}/hub.sqlite3"
    import psycopg

    name = f"hub_live_{os.getpid()}_{int(time.time() * 1000)}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


class LiveHub:
    def __init__(self, url: str, env: dict):
        self.url = url
        self.env = env

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def create_agent(self, username: str, password: str, name: str = "") -> None:
        self.manage("create_agent", username, "--password", password, "--name", name or username)


@pytest.fixture(scope="session")
def live_hub():
    workdir = tempfile.mkdtemp(prefix="hub-live-")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _fresh_database_url(workdir),
        "SECRET_KEY": "browser-tests-secret-key-not-for-production-000000",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "handoff_hub.settings",
        "HUB_ASSISTANT_STORE": os.path.join(workdir, "assistants"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    hub = Daphne(env, port, log_dir=workdir)  # the production worker, as `make serve-prod` runs it
    try:
        hub.start()  # returns once /healthz answers
        yield LiveHub(hub.url, env)
    finally:
        hub.stop()


# Package scope: Playwright's sync API keeps an event loop marked as running in this thread
# while it lives, which would break every asyncio test that runs after the browser tests.
@pytest.fixture(scope="package")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser):
    contexts = []

    def make(**options):
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
