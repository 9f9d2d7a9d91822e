"""Every conversation script on the in-process bot (tests/inproc.py): the real dispatcher, handlers,
case service and engine on SQLite, the keyword-rules NLU with the emergency layer, a clock the
script advances. Milliseconds per step; no Rasa, no sockets. A script gives the model's reading of
the texts the keyword rules would misread (`nlu: {text: intent}`); one that must be read by the
trained model says `rasa: true` and runs only on the real bot (tests/e2e/test_conversations.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conversation import Runner, Script
from tests.inproc import InProcessBot

SCRIPTS_DIR = Path(__file__).parents[1] / "e2e" / "conversations"
SCRIPTS = sorted(SCRIPTS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_conversation_in_process(path: Path, tmp_path: Path) -> None:
    script = Script.load(path)
    if script.rasa:
        pytest.skip("reads text only the trained model reads (runs in tests/e2e/test_conversations.py)")
    bot = InProcessBot(tmp_path, script.nlu, GRIDBOT_POLICIES=str(SCRIPTS_DIR / "policy.yml"), **script.env)
    try:
        Runner(script, bot).run()  # type: ignore[arg-type]
    finally:
        bot.close()
