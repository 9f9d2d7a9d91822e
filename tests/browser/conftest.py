"""Browser tests: Playwright (Python) driving Debian's Chromium (`make test` installs it); no browser
download. A missing Chromium fails the tests, it never skips them."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from config.settings import CONFIG
from tests.conftest import PG_ADMIN, BotProcess, _pg, run_sync
from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER

CHROMIUM = Path("/usr/bin/chromium")
# As root in a container, and on a closed network: no sandbox, no background connections.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped on purpose: Playwright's sync API runs an event loop on this thread while it
    is open, and the session's asyncio fixtures (the shared Rasa server) cannot start beside it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def admin_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """A bot on its own PostgreSQL database, with its own Rasa (the intent editor retrains it) and
    scratch copies of the files admins edit."""
    tmp = tmp_path_factory.mktemp("browser")
    shutil.copytree(CONFIG / "intents", tmp / "intents")
    shutil.copy(CONFIG / "policies" / "default.yaml", tmp / "policies.yaml")
    shutil.copy(CONFIG / "templates.yaml", tmp / "templates.yaml")
    name = f"gridbot_browser_{uuid.uuid4().hex[:8]}"
    try:
        run_sync(_pg(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL is needed at {PG_ADMIN}: {exc!r}")
    bot = BotProcess(
        {"GRIDBOT_DATABASE_URL": f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", "GRIDBOT_VAR_DIR": str(tmp / "var"),
         "GRIDBOT_INTENTS": str(tmp / "intents"), "GRIDBOT_POLICIES": str(tmp / "policies.yaml"),
         "GRIDBOT_TEMPLATES": str(tmp / "templates.yaml"), "GRIDBOT_ADMIN_USER": ADMIN_USER,
         "GRIDBOT_ADMIN_PASSWORD": ADMIN_PASSWORD, "GRIDBOT_ADMIN_SECURE_COOKIES": "false"},  # plain http here
        tmp / "bot.log",
    )  # fmt: skip
    bot.start(timeout_s=300)
    yield bot
    bot.stop()
    run_sync(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


DIALOGS: dict[Page, list[str]] = {}


def login(browser: Browser, base_url: str, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN").new_page()
    DIALOGS[page] = []
    page.on("dialog", lambda d: (DIALOGS[page].append(d.message), d.dismiss()))  # an alert() ran: XSS
    page.goto(f"{base_url}/admin")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/admin")
    return page
