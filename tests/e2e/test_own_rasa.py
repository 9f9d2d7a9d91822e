"""`serve` without GRIDBOT_NLU_URL runs its own Rasa child, which dies with the bot even on SIGKILL."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.helpers import Api, wait_for


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text().split()
    return stat[2] != "Z"


def test_serve_starts_rasa_and_the_child_dies_with_the_bot(bot_factory: Callable[..., Any], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k == "GRIDBOT_NLU_URL"}
    assert not env, "this test needs the bot to start its own Rasa"
    bot = bot_factory(GRIDBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'own.db'}")
    bot.start(timeout_s=180)  # healthy = our Rasa child answers
    parsed = Api(bot.url).http.post("/nlu/parse", json={"text": "小区门口的路灯坏了"}).json()
    assert parsed["source"] == "rasa"
    rasa = [c for c in children(bot.proc.pid) if "rasa" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(rasa) == 1
    bot.kill()
    wait_for(lambda: not alive(rasa[0]), 20, "the Rasa child to exit after the bot was SIGKILLed")
