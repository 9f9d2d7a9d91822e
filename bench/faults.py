"""Fault suite (scripted, prints what was lost; not a pass/fail test).

Each scenario sends a stream of messages (every one with its own client id, resent until the bot
answers 201, as a channel's retries would) into real bot processes on PostgreSQL + Redis, breaks
something in the middle, lets everything recover, then counts from the database:

- lost: messages sent that were never stored and handled;
- duplicate tickets: more than one ticket for one report (each report carries a unique tag);
- doubled escalation steps: the same tier escalated to twice for one ticket (fast policy: every
  tier is reached within seconds); missed steps: open tickets whose due step never fired;
- undelivered: outbox rows (and platform deliveries) still pending or dead after recovery; with
  `channel`, also group posts the (fake) Telegram API never got, and posts it got twice.

    .venv/bin/python bench/faults.py kill three rasa channel platforms [redis postgres]

`kill`: SIGKILL the bot mid-load, restart it. `three`: three processes, round robin, one killed.
`rasa`: the bot's own Rasa child killed mid-load (the keyword rules answer meanwhile).
`redis` / `postgres`: restart the service mid-load (this machine's; other users of it notice).
`storm`: a WeChat retry storm: each Official Account message (signed XML, its own MsgId) is
posted three times at once to the three processes of a round robin, and once more 5 s later.
`channel`: every chat is bound to a Telegram group on a local fake Bot API, which mid-load hangs
(holds each sendMessage unanswered) for `--outage`/2 seconds, then answers 502 for as long.
`platforms`: as `channel`, and every chat is also bound to a WeCom appchat on a local fake WeCom
API that stays up: each platform must get each group post exactly once, and WeCom must not fall
behind while Telegram is down (`wecom_behind_at_outage_end`: group posts stored by then that
WeCom had not got).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REDIS, ROOT, TOKEN, Bot, Database, write_county
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wechat_api import FakeWechat

FAST = str(ROOT / "config" / "policies" / "fast.yaml")
TG_TOKEN = "4242:bench"
OA_APPID, OA_TOKEN, OA_SECRET = "wxbench0000000001", "benchToken", "bench-secret"
PORT = 8770  # the bots listen on PORT, PORT + 1, PORT + 2 (--port)
SCENARIOS = ["kill", "three", "rasa", "channel", "platforms", "storm", "redis", "postgres"]
WECOM_CORP, WECOM_TOKEN, WECOM_SECRET, WECOM_AGENT = "wwbench0000000001", "benchWecom", "bench-wecom-secret", "1000002"
WECOM_AES = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"  # 43 characters, test only
CHATS = [f"g{t}-{c}-0" for t in range(10) for c in range(10)]
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


def oa_signed() -> dict[str, str]:
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    return {"timestamp": ts, "nonce": nonce,
            "signature": hashlib.sha1("".join(sorted([OA_TOKEN, ts, nonce])).encode()).hexdigest()}  # fmt: skip


def oa_text(openid: str, content: str, msg_id: int) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")  # fmt: skip


async def bind_residents(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        rows = [("wechat", f"oBench{i}", CHATS[i % len(CHATS)]) for i in range(count)]
        await conn.executemany("INSERT INTO channel_chats (channel, external_id, chat_id) VALUES ($1, $2, $3)", rows)
    finally:
        await conn.close()


async def storm(urls: list[str], count: int, rate: float) -> tuple[int, int]:
    """Each message: three copies at once to the three processes, a fourth 5 s later (WeChat's
    retries come after 5 s without an answer; a storm is all of them, and across processes)."""
    answered, rng = 0, random.Random(5)

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal answered
        text = f"{rng.randint(1, 40)}号楼门口的路灯坏了 编号K{i}K" if i % 4 == 0 else "大家早上好"
        body = oa_text(f"oBench{i}", text, 9_000_000 + i)

        async def post(url: str) -> int:
            try:
                async with session.post(f"{url}/wechat/oa", params=oa_signed(), data=body.encode()) as r:
                    await r.read()
                    return r.status
            except (aiohttp.ClientError, TimeoutError):
                return 0

        codes = await asyncio.gather(*(post(u) for u in urls))
        await asyncio.sleep(5)
        codes.append(await post(urls[i % len(urls)]))
        answered += codes.count(200) > 0

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        tasks = []
        for i in range(count):
            await asyncio.sleep(1 / rate)
            tasks.append(asyncio.create_task(one(session, i)))
        await asyncio.gather(*tasks)
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
            "undelivered_platforms": await q("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'dead')"),
            "pending": await q("SELECT (SELECT count(*) FROM messages WHERE direction='out' AND status = 'pending') "
                               "+ (SELECT count(*) FROM deliveries WHERE status = 'pending')"),
        }  # fmt: skip
    finally:
        await conn.close()


def tg_group(chat: str) -> int:
    return -1001000000000 - CHATS.index(chat)


async def bind_telegram(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        rows = [("telegram", str(tg_group(c)), c) for c in CHATS]
        await conn.executemany("INSERT INTO channel_chats (channel, external_id, chat_id) VALUES ($1, $2, $3)", rows)
    finally:
        await conn.close()


async def telegram_gaps(url: str, telegram: FakeTelegram) -> dict[str, int]:
    """Group posts the fake Telegram never got, and posts it got more than once."""
    expected = Counter((tg_group(chat), text) for chat, text in await group_posts(url))
    got = Counter((int(p["chat_id"]), p["text"]) for p in list(telegram.delivered))
    return {"telegram_delivered": sum(got.values()), "telegram_missing": sum((expected - got).values()),
            "telegram_doubled": sum((got - expected).values())}  # fmt: skip


def wecom_chat(chat: str) -> str:
    return f"wr-{chat}"


async def bind_wecom(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        rows = [("wecom-appchat", wecom_chat(c), c) for c in CHATS]
        await conn.executemany("INSERT INTO channel_chats (channel, external_id, chat_id) VALUES ($1, $2, $3)", rows)
    finally:
        await conn.close()


async def wecom_gaps(url: str, wecom: FakeWechat) -> dict[str, int]:
    """Group posts the fake WeCom never got, and posts it got more than once."""
    expected = await group_posts(url)
    got = Counter((m["chatid"], m["text"]["content"]) for m in list(wecom.custom) if "chatid" in m)
    want = Counter((wecom_chat(chat), text) for chat, text in expected)
    return {"wecom_delivered": sum(got.values()), "wecom_missing": sum((want - got).values()),
            "wecom_doubled": sum((got - want).values())}  # fmt: skip


async def group_posts(url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT chat_id, text FROM messages WHERE direction='out' AND chat_id IS NOT NULL "
                                "AND person_id IS NULL")  # fmt: skip
    finally:
        await conn.close()
    return [(r["chat_id"], r["text"]) for r in rows]


async def wecom_behind(url: str, wecom: FakeWechat, at_s: float) -> int:
    """At `at_s` from now (the end of Telegram's outage), how many stored group posts WeCom lacks."""
    await asyncio.sleep(max(0.0, at_s))
    stored = Counter((wecom_chat(chat), text) for chat, text in await group_posts(url))
    got = Counter((m["chatid"], m["text"]["content"]) for m in list(wecom.custom) if "chatid" in m)
    return sum((stored - got).values())


def start_bots(n: int, db: Database, tmp: str, nlu: str, extra: dict[str, str] | None = None) -> list[Bot]:
    env = {"GRIDBOT_DATABASE_URL": db.url, "GRIDBOT_REDIS_URL": REDIS, "GRIDBOT_NLU": nlu, "GRIDBOT_POLICIES": FAST,
           "GRIDBOT_DIRECTORY": f"{tmp}/county.yaml", "GRIDBOT_AUDIT_INTERVAL_S": "2", **(extra or {})}  # fmt: skip
    bots = [
        Bot({**env, "GRIDBOT_VAR_DIR": f"{tmp}/var{i}"}, Path(tmp) / f"bot{i}.log", port=PORT + i) for i in range(n)
    ]
    for bot in bots:
        bot.start()
    return bots


def inject(name: str, bots: list[Bot], telegram: FakeTelegram | None, outage_s: float) -> None:
    """Break one thing (blocking; run in a thread while the load goes on)."""
    if name in ("channel", "platforms") and telegram is not None:
        telegram.outage(hang_s=outage_s / 2, fail_s=outage_s / 2)
        print(f"  Telegram API: hangs for {outage_s / 2:.0f} s, then answers 502 for {outage_s / 2:.0f} s")
    elif name in ("kill", "three"):
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


async def fault(name: str, bots: list[Bot], after_s: float, telegram: FakeTelegram | None, outage_s: float) -> None:
    await asyncio.sleep(after_s)
    await asyncio.to_thread(inject, name, bots, telegram, outage_s)


async def settled(url: str, least_s: float, most_s: float) -> dict[str, int]:
    """Wait `least_s` (fast policy: every tier reached), then until nothing is pending and no step is
    overdue, or `most_s` passed. A killed leader's steps wait for its scheduler lease to pass (30 s)
    and the next audit (10 s): they count as missed only if they never fire."""
    await asyncio.sleep(least_s)
    deadline = time.monotonic() + most_s
    while True:
        found = await counts(url)
        if time.monotonic() > deadline or not (found["pending"] or found["stored_unhandled"] or found["missed_steps"]):
            return found
        await asyncio.sleep(5)


async def scenario(name: str, db: Database, tmp: str, count: int, rate: float, outage_s: float) -> None:
    telegram = FakeTelegram(TG_TOKEN).start() if name in ("channel", "platforms") else None
    wechat = FakeWechat(OA_APPID, OA_SECRET).start() if name == "storm" else None
    wecom = FakeWechat(WECOM_CORP, WECOM_SECRET, wecom=True).start() if name == "platforms" else None
    extra = {"GRIDBOT_TELEGRAM_TOKEN": TG_TOKEN, "GRIDBOT_TELEGRAM_API_BASE": telegram.base} if telegram else {}
    if wechat:
        extra = {"GRIDBOT_WECHAT_APPID": OA_APPID, "GRIDBOT_WECHAT_TOKEN": OA_TOKEN,
                 "GRIDBOT_WECHAT_APPSECRET": OA_SECRET, "GRIDBOT_WECHAT_API_BASE": wechat.base}  # fmt: skip
    if wecom:
        extra |= {"GRIDBOT_WECOM_CORP_ID": WECOM_CORP, "GRIDBOT_WECOM_TOKEN": WECOM_TOKEN,
                  "GRIDBOT_WECOM_AES_KEY": WECOM_AES, "GRIDBOT_WECOM_SECRET": WECOM_SECRET,
                  "GRIDBOT_WECOM_AGENT_ID": WECOM_AGENT, "GRIDBOT_WECOM_API_BASE": wecom.base}  # fmt: skip
    bots = start_bots(3 if name in ("three", "storm") else 1, db, tmp, "rasa" if name == "rasa" else "rules", extra)
    try:
        if telegram:
            await bind_telegram(db.url)
        if wechat:
            await bind_residents(db.url, count)
        if wecom:
            await bind_wecom(db.url)
        urls = [b.url for b in bots]
        injected = asyncio.create_task(fault(name, bots, count / rate / 2, telegram, outage_s))
        behind = asyncio.create_task(wecom_behind(db.url, wecom, count / rate / 2 + outage_s - 1)) if wecom else None
        started = time.monotonic()
        if wechat:
            answered, reports = await storm(urls, count, rate)
        else:
            answered, reports = await stream(urls, CHATS, count, rate)
        await injected
        recovery = outage_s - (time.monotonic() - started - count / rate / 2) if telegram else 0
        found = await settled(db.url, 25 + max(0.0, recovery), 900)
        found["settled_s"] = round(time.monotonic() - started)
        if telegram:
            found |= await telegram_gaps(db.url, telegram)
        if wecom and behind:
            found |= await wecom_gaps(db.url, wecom) | {"wecom_behind_at_outage_end": await behind}
        lost = count - found["stored_handled"]
        print(f"{name}: sent {count} ({reports} reports), answered {answered}; lost {lost}, "
              + ", ".join(f"{k} {v}" for k, v in found.items()))  # fmt: skip
    finally:
        for bot in bots:
            bot.stop()
        for fake in (telegram, wechat, wecom):
            if fake:
                fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="+", choices=SCENARIOS)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--rate", type=float, default=30)
    parser.add_argument("--outage", type=float, default=180, help="seconds the channel API is down (channel)")
    parser.add_argument("--port", type=int, default=8770, help="first bot port (run two suites side by side)")
    args = parser.parse_args()
    global PORT
    PORT = args.port
    for name in args.scenarios:
        with tempfile.TemporaryDirectory() as tmp, Database() as db:
            write_county(Path(tmp) / "county.yaml", 100)
            try:
                asyncio.run(scenario(name, db, tmp, args.messages, args.rate, args.outage))
            finally:
                logs = Path(tempfile.gettempdir()) / f"gridbot-faults-{name}"
                shutil.rmtree(logs, ignore_errors=True)
                shutil.copytree(tmp, logs, ignore=shutil.ignore_patterns("var*"))
                print(f"  bot logs: {logs}")


if __name__ == "__main__":
    main()
