"""SIGKILL the bot while a deadline is pending; after a restart the deadline still fires."""

from __future__ import annotations

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
    deadlines = Api(first.url).ticket(tid)["deadlines"]
    first.kill()
    killed_at = datetime.now().astimezone()
    # the nag (2 s) and the community deadline (4 s: the accept phase's end) pass while it is dead
    assert deadlines["due_at"], deadlines
    due_at = datetime.fromisoformat(deadlines["due_at"])
    assert due_at > killed_at
    wait_for(lambda: datetime.now().astimezone() > due_at, 10, "the community deadline to pass")

    second = bot_factory(**env)
    second.start()
    api = Api(second.url)
    wait_for(lambda: any("超时上报" in m["text"] for m in api.inbox("o-hehua")), 10, "the missed escalation")
    events = api.ticket(tid)["events"]
    escalated = [e for e in events if e["kind"] == "escalated"]
    assert escalated and datetime.fromisoformat(escalated[0]["at"]) > killed_at
    wait_for(lambda: any("超时上报" in m["text"] for m in api.inbox("o-xingfu")), 10, "the next step, by timer")
    # the restart fired the missed escalation once (a double-firing would come before the next step)
    assert len([m for m in api.inbox("o-hehua") if "超时上报" in m["text"]]) == 1
    tiers = [e["detail"]["tier"] for e in api.ticket(tid)["events"] if e["kind"] == "escalated"]
    assert tiers.count("community") == 1, tiers
