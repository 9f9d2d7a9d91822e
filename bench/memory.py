"""Memory of one bot process with a county's data (prints numbers; not a pass/fail test).

1,000 micro-grid chats and 100,000 tickets in PostgreSQL (a year of cases: most closed, the open
ones recent), the bot started on them with Redis and the keyword rules NLU (Rasa is its own
process and is not counted). RSS is read from /proc after start, after a burst of messages, and
after an officer's dashboard and ticket pages.

    .venv/bin/python bench/memory.py [--chats 1000] [--tickets 100000] [--open 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REDIS, TOKEN, Bot, Database, write_county
from config.policies import load_policies
from config.settings import CONFIG
from escalation import planner
from storage import tables
from storage.database import create_engine
from storage.migrate import upgrade
from storage.rows import _ticket_row
from tickets import transitions
from tickets.model import CloseReason, TicketState

TYPES = ["report_sanitation", "report_public_facility", "report_water", "report_illegal_parking", "report_noise"]


def tickets(chats: list[str], total: int, open_count: int, now: datetime) -> list[dict[str, object]]:
    rng = random.Random(3)
    book = load_policies(CONFIG / "policies" / "default.yaml")
    rows = []
    for i in range(1, total + 1):
        chat = rng.choice(chats)
        is_open = i > total - open_count
        created = now - (timedelta(minutes=rng.uniform(0, 30)) if is_open else timedelta(days=rng.uniform(1, 365)))
        kind = rng.choice(TYPES)
        t = transitions.open_ticket(ticket_id=i, ticket_type=kind, grid=chat, chat_id=chat, reporter=f"居民{i % 97}",
                             assignee=f"w{chat[1:]}", location=f"{rng.randint(1, 30)}号楼", text="楼道里垃圾没人清理",
                             policy=book.for_type(kind), now=created).ticket  # fmt: skip
        if not is_open:
            t = replace(t, state=TicketState.CLOSED, close_reason=CloseReason.RATED, rating=rng.randint(3, 5),
                         ratings={t.reporter: 5})  # fmt: skip
        rows.append(_ticket_row(t, planner.next_due(t) if is_open else None))
    return rows


async def fill(url: str, rows: list[dict[str, object]]) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(tables.tickets.insert(), rows[start : start + 5000])
    await engine.dispose()


def login(client: httpx.Client) -> None:
    page = client.get("/admin/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', page)
    assert token
    form = {"login_token": token.group(1), "username": "admin", "password": "bench-admin-1", "next": "/admin"}
    assert client.post("/admin/login", data=form).status_code == 303


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Database() as db:
        chats = write_county(Path(tmp) / "county.yaml", args.chats)
        upgrade(db.url)
        started = time.monotonic()
        asyncio.run(fill(db.url, tickets(chats, args.tickets, args.open, datetime.now(UTC))))
        print(f"{args.tickets} tickets ({args.open} open) in {len(chats)} chats written in "
              f"{time.monotonic() - started:.0f} s")  # fmt: skip
        env = {"GRIDBOT_DATABASE_URL": db.url, "GRIDBOT_REDIS_URL": REDIS, "GRIDBOT_NLU": "rules",
               "GRIDBOT_DIRECTORY": f"{tmp}/county.yaml", "GRIDBOT_VAR_DIR": f"{tmp}/var",
               "GRIDBOT_ADMIN_USER": "admin", "GRIDBOT_ADMIN_PASSWORD": "bench-admin-1",
               "GRIDBOT_ADMIN_SECURE_COOKIES": "false"}  # plain http://127.0.0.1  # fmt: skip
        bot = Bot(env, Path(tmp) / "bot.log")
        try:
            ready = bot.start()
            time.sleep(3)
            print(f"bot healthy after {ready:.1f} s; RSS at rest {bot.rss_mb():.0f} MB")
            api = httpx.Client(base_url=bot.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            for i in range(2000):
                chat = chats[i % len(chats)]
                api.post(f"/api/v1/chats/{chat}/messages", json={"sender": f"居民{i}", "text": "3号楼门口的路灯坏了"})
            print(f"after 2,000 messages (2,000 new tickets): RSS {bot.rss_mb():.0f} MB")
            web = httpx.Client(base_url=bot.url, timeout=120, headers={"Accept": "text/html"})
            login(web)
            for path in ("/admin?days=365", "/admin/tickets?state=open", "/admin/tickets/1"):
                began = time.monotonic()
                status = web.get(path).status_code
                print(f"  GET {path}: {status} in {time.monotonic() - began:.2f} s; RSS {bot.rss_mb():.0f} MB")
        finally:
            bot.stop()


if __name__ == "__main__":
    main()
