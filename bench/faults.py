"""Fault suite (scripted, prints what was lost; not a pass/fail test).

Each scenario sends a stream of messages (every one with its own client id, resent until the bot
answers 201, as a channel's retries would) into real bot processes on PostgreSQL + Redis, breaks
something in the middle, lets everything recover, then counts from the database:

- lost: messages sent that were never stored and handled;
- duplicate tickets: more than one ticket for one report (each report carries a unique tag);
- doubled escalation steps: the same tier escalated to twice for one ticket (fast policy: every
  tier is reached within seconds); missed steps: open tickets whose due step never fired;
- undelivered: outbox rows still pending or dead after recovery.

    .venv/bin/python bench/faults.py kill three rasa [redis postgres]

`kill`: SIGKILL the bot mid-load, restart it. `three`: three processes, round robin, one killed.
`rasa`: the bot's own Rasa child killed mid-load (the keyword rules answer meanwhile).
`redis` / `postgres`: restart the service mid-load (this machine's; other users of it notice).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REDIS, ROOT, TOKEN, Bot, Database, write_county

FAST = str(ROOT / "config" / "policies" / "fast.yaml")
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
               "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]  # fmt: skip


async def send_until_stored(session: aiohttp.ClientSession, urls: list[str], chat: str, sender: str, text: str,
                            deadline: float) -> bool:  # fmt: skip
    body = {"sender": sender, "text": text, "client_id": uuid.uuid4().hex}
    attempt = 0
    while time.monotonic() < deadline:
        url = urls[attempt % len(urls)]
        attempt += 1
        try:
            async with session.post(f"{url}/api/v1/chats/{chat}/messages", json=body) as response:
                await response.read()
                if response.status == 201:
                    return True
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    return False


async def stream(urls: list[str], chats: list[str], count: int, rate: float) -> tuple[int, int]:
    rng = random.Random(5)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + count / rate + 180
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as session:
        tasks = []
        for i in range(count):
            await asyncio.sleep(1 / rate)
            report = i % 4 == 0
            text = f"{rng.randint(1, 40)}号楼门口的路灯坏了 编号K{i}K" if report else "大家早上好"
            order = [urls[i % len(urls)], *urls]
            job = send_until_stored(session, order, rng.choice(chats), f"居民{i}", text, deadline)
            tasks.append(asyncio.create_task(job))  # fmt: skip
        answered = sum(await asyncio.gather(*tasks))
    return answered, sum(1 for i in range(count) if i % 4 == 0)


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        q = conn.fetchval
        return {
            "tickets": await q("SELECT count(*) FROM tickets"),
            "escalations": await q("SELECT count(*) FROM ticket_events WHERE kind='escalated'"),
            "stored_handled": await q("SELECT count(*) FROM messages WHERE direction='in' AND status='handled'"),
            "stored_unhandled": await q("SELECT count(*) FROM messages WHERE direction='in' AND status<>'handled'"),
            "duplicate_tickets": await q("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM tickets "
                                         "WHERE text LIKE '%编号K%' GROUP BY substring(text from '编号K[0-9]+K')) x"),
            "doubled_steps": await q("SELECT count(*) FROM (SELECT ticket_id, detail->>'tier' FROM ticket_events "
                                     "WHERE kind='escalated' AND actor='system' GROUP BY 1, 2 HAVING count(*) > 1) x"),
            "missed_steps": await q("SELECT count(*) FROM tickets WHERE next_due_at < now() - interval '15 seconds'"),
            "undelivered": await q("SELECT count(*) FROM messages WHERE direction='out' "
                                   "AND status IN ('pending', 'dead')"),
        }  # fmt: skip
    finally:
        await conn.close()


def start_bots(n: int, db: Database, tmp: str, nlu: str) -> list[Bot]:
    env = {"GRIDBOT_DATABASE_URL": db.url, "GRIDBOT_REDIS_URL": REDIS, "GRIDBOT_NLU": nlu, "GRIDBOT_POLICIES": FAST,
           "GRIDBOT_DIRECTORY": f"{tmp}/county.yaml", "GRIDBOT_AUDIT_INTERVAL_S": "2"}  # fmt: skip
    bots = [
        Bot({**env, "GRIDBOT_VAR_DIR": f"{tmp}/var{i}"}, Path(tmp) / f"bot{i}.log", port=8770 + i) for i in range(n)
    ]
    for bot in bots:
        bot.start()
    return bots


def inject(name: str, bots: list[Bot]) -> None:
    """Break one thing (blocking; run in a thread while the load goes on)."""
    if name in ("kill", "three"):
        victim = bots[0]
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        print(f"  SIGKILL bot on :{victim.port}")
        time.sleep(3)
        victim.start()
        print(f"  restarted bot on :{victim.port}")
    elif name == "rasa":
        parent = str(bots[0].proc.pid if bots[0].proc else 0)
        pids = subprocess.run(["pgrep", "-P", parent], capture_output=True, text=True).stdout.split()
        for pid in pids:
            subprocess.run(["kill", "-9", pid], check=False)
        print(f"  killed the bot's Rasa child {pids}")
    elif name == "redis":
        subprocess.run(["redis-cli", "shutdown", "nosave"], check=False, capture_output=True)
        print("  Redis stopped")
        time.sleep(3)
        subprocess.run(REDIS_START, check=True, capture_output=True)
        print("  Redis started")
    elif name == "postgres":
        version = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True).stdout.split()[0]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True)
        print("  PostgreSQL restarted")


async def fault(name: str, bots: list[Bot], after_s: float) -> None:
    await asyncio.sleep(after_s)
    await asyncio.to_thread(inject, name, bots)


async def scenario(name: str, db: Database, tmp: str, count: int, rate: float) -> None:
    bots = start_bots(3 if name == "three" else 1, db, tmp, "rasa" if name == "rasa" else "rules")
    try:
        urls = [b.url for b in bots]
        injected = asyncio.create_task(fault(name, bots, count / rate / 2))
        answered, reports = await stream(urls, [f"g{t}-{c}-0" for t in range(10) for c in range(10)], count, rate)
        await injected
        await asyncio.sleep(25)  # fast policy: every tier reached; outbox retries drained
        found = await counts(db.url)
        lost = count - found["stored_handled"]
        print(f"{name}: sent {count} ({reports} reports), answered {answered}; lost {lost}, "
              + ", ".join(f"{k} {v}" for k, v in found.items()))  # fmt: skip
    finally:
        for bot in bots:
            bot.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="+", choices=["kill", "three", "rasa", "redis", "postgres"])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--rate", type=float, default=30)
    args = parser.parse_args()
    for name in args.scenarios:
        with tempfile.TemporaryDirectory() as tmp, Database() as db:
            write_county(Path(tmp) / "county.yaml", 100)
            asyncio.run(scenario(name, db, tmp, args.messages, args.rate))


if __name__ == "__main__":
    main()
