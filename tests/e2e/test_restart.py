"""SIGKILL the bot while a deadline is pending; after a restart the deadline still fires."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from config.settings import CONFIG
from tests.e2e.helpers import Api, wait_for


def test_a_deadline_pending_at_sigkill_fires_after_restart(
    rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    env = {
        "GRIDBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'kill.db'}",
        "GRIDBOT_NLU_URL": rasa_url,
        "GRIDBOT_POLICIES": str(CONFIG / "policies" / "fast.yaml"),
        "GRIDBOT_AUDIT_INTERVAL_S": "30",  # the restart must re-arm timers, not wait for an audit
    }
    first = bot_factory(**env)
    first.start()
    tid = Api(first.url).say("hh-1", "陈大爷", "小区东门的路灯坏了好几天，晚上黑漆漆的")["replies"][0]["ticket_id"]
    first.kill()
    killed_at = datetime.now().astimezone()
    time.sleep(5)  # the nag (2 s) and the community deadline (4 s) pass while it is dead

    second = bot_factory(**env)
    second.start()
    api = Api(second.url)
    wait_for(lambda: any("超时上报" in m["text"] for m in api.inbox("o-hehua")), 10, "the missed escalation")
    events = api.ticket(tid)["events"]
    escalated = [e for e in events if e["kind"] == "escalated"]
    assert escalated and datetime.fromisoformat(escalated[0]["at"]) > killed_at
    wait_for(lambda: any("超时上报" in m["text"] for m in api.inbox("o-xingfu")), 10, "the next step, by timer")
