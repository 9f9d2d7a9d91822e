"""Two bot processes on one PostgreSQL, with a Redis lease or (no Redis) a PostgreSQL advisory lock
as the scheduler leader: both serve, one runs timers, nobody is pinged twice.
Also the `grids import` CLI against the same database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG
from tests.conftest import REDIS, ROOT
from tests.e2e.helpers import Api, wait_for


def escalated_tiers(api: Api, tid: int) -> list[str]:
    return [e["detail"]["tier"] for e in api.ticket(tid)["events"] if e["kind"] == "escalated"]


@pytest.mark.parametrize("leader", [pytest.param("redis", marks=pytest.mark.redis), "pg-advisory-lock"])
def test_two_processes_share_tickets_and_escalate_once(
    leader: str, fresh_pg: str, rasa_url: str, bot_factory: Callable[..., Any]
) -> None:
    env = {
        "GRIDBOT_DATABASE_URL": fresh_pg,
        "GRIDBOT_REDIS_URL": REDIS if leader == "redis" else "",
        "GRIDBOT_NLU_URL": rasa_url,
        "GRIDBOT_POLICIES": str(CONFIG / "policies" / "fast.yaml"),
        "GRIDBOT_AUDIT_INTERVAL_S": "1",
    }
    a, b = bot_factory(**env), bot_factory(**env)
    a.start()
    b.start()
    api_a, api_b = Api(a.url), Api(b.url)
    tid = api_a.say("df-2", "杨大姐", "三组路口的井盖被人偷了，晚上很危险")["replies"][0]["ticket_id"]
    assert api_b.ticket(tid)["state"] == "reported"  # the other process sees the same ticket
    wait_for(lambda: [m for m in api_b.inbox("o-heping") if "超时上报" in m["text"]], 15, "township escalation")
    # A second scheduler double-firing the nag, the community or the township step would do so at
    # that step's deadline or the next audit (1 s); the district step is due 4 s after the township one.
    wait_for(lambda: "district" in escalated_tiers(api_a, tid), 15, "district escalation")
    community = [m for m in api_b.inbox("o-dongfeng") if "超时上报" in m["text"]]
    assert len(community) == 1
    township = [m for m in api_a.inbox("o-heping") if "超时上报" in m["text"]]
    assert len(township) == 1
    events = api_a.ticket(tid)["events"]
    tiers = [e["detail"]["tier"] for e in events if e["kind"] == "escalated"]
    assert tiers[:3] == ["community", "township", "district"] and len(tiers) == len(set(tiers))
    assert [e["kind"] for e in events].count("nagged") == 1


def test_grids_import_replaces_the_directory(tmp_path: Path) -> None:
    grid = tmp_path / "grids.yaml"
    grid.write_text(
        "district: {id: d, name: 测试区, townships: [{id: t, name: 测试街道, communities: [{id: c, name: 测试社区,"
        " grids: [{id: g, name: 测试网格, chat_id: chat-g, workers: [{id: w, name: 测试员}]}]}]}]}\n",
        encoding="utf-8",
    )
    env = {"GRIDBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "run_bot.py", "grids", "import", str(grid)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "1 micro-grids" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("district: {id: d, name: x, townships: [{id: t}]}\n", encoding="utf-8")
    failed = subprocess.run(
        [sys.executable, "run_bot.py", "grids", "import", str(bad)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert failed.returncode == 2 and failed.stderr.startswith("error:") and "bad.yaml" in failed.stderr
