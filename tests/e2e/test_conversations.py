"""Every conversation script in tests/e2e/conversations/ through a real bot process (SQLite, the real
Rasa model, conversations/policy.yml unless the script sets its own env)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conversation import Runner, Script
from tests.e2e.helpers import Api

SCRIPTS_DIR = Path(__file__).parent / "conversations"
SCRIPTS = sorted(SCRIPTS_DIR.glob("*.yaml"))


def test_there_are_scripts() -> None:
    assert len(SCRIPTS) >= 8


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_conversation(path: Path, rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path) -> None:
    script = Script.load(path)
    if script.scripted:
        pytest.skip("written for scripted readings (an unsure model): runs in tests/unit/test_conversations_inproc.py")
    if script.days:
        pytest.skip("lets days pass on the test's clock: runs in tests/unit/test_conversations_inproc.py")
    env = {
        "GRIDBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'conversation.db'}",
        "GRIDBOT_NLU_URL": rasa_url,
        "GRIDBOT_POLICIES": str(SCRIPTS_DIR / "policy.yml"),
        "GRIDBOT_AUDIT_INTERVAL_S": "0.5",
        **script.env,
    }
    bot = bot_factory(**env)
    bot.start()
    Runner(script, Api(bot.url)).run()
