"""Escalation at scale on PostgreSQL (prints numbers; not a pass/fail test).

1. Live timers: N tickets whose first step (a nag) falls due spread over a window, armed in the
   real APScheduler trigger, fired by the real engine (lock row, fence on the token, write events
   and outbox rows, commit). Lateness = when the engine started the step − when it was due;
   also the lateness of the committed result.
2. Audit cost: the periodic sweep for overdue steps with 10k and 1M open tickets, of which only
   a few hundred are due. It must grow with the number due, not the number open.

    .venv/bin/python bench/escalation_timers.py [--timers 10000] [--window 60] [--open 10000 1000000]

Needs PostgreSQL (GRIDBOT_BENCH_PG, default postgresql://postgres@127.0.0.1:5432/test); creates
and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.outbox import OutboxNotifier
from bot.render import Renderer, Templates
from config.directory import load_directory_file
from config.settings import CONFIG
from escalation import planner
from escalation.cases import CaseService
from escalation.engine import EscalationEngine
from escalation.scheduler import AlwaysLeader, SchedulerTrigger
from storage.database import create_engine
from storage.migrate import upgrade
from storage.rows import policy_to_json
from storage.sql import SqlUnitOfWork
from tickets import transitions
from tickets.model import LadderStep, SlaPolicy, Tier

ADMIN = os.environ.get("GRIDBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
DEMO = load_directory_file(CONFIG / "grids.demo.yaml")
GRIDS = [n.id for n in DEMO.nodes.values() if n.chat_id]


def policy(accept_s: int) -> SlaPolicy:
    # nag at 50% of accept: the step the timer bench fires
    return SlaPolicy("bench", accept_s, 3600, (0.5,), (LadderStep(Tier.COMMUNITY, 3600),))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class MeasuredEngine(EscalationEngine):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.due: dict[int, datetime] = {}
        self.started: list[float] = []
        self.committed: list[float] = []

    async def fire(self, ticket_id: int, token: int | None = None) -> bool:
        due = self.due.get(ticket_id)
        if due is not None:
            self.started.append((datetime.now(UTC) - due).total_seconds() * 1000)
        fired = await super().fire(ticket_id, token)
        if due is not None and fired:
            self.committed.append((datetime.now(UTC) - due).total_seconds() * 1000)
            del self.due[ticket_id]
        return fired


async def live_timers(url: str, count: int, window_s: float) -> None:
    engine = create_engine(url)
    renderer = Renderer(Templates.load(CONFIG / "templates.yaml"), lambda: DEMO)
    notifier = OutboxNotifier(renderer)
    trigger = SchedulerTrigger(AlwaysLeader(), audit_interval_s=3600)
    cases = CaseService(notifier, lambda: datetime.now(UTC), trigger)
    measured = MeasuredEngine(lambda: SqlUnitOfWork(engine), cases, lambda: DEMO, lambda: datetime.now(UTC))
    lead = 20.0  # seconds to insert and arm before the first step is due
    base = datetime.now(UTC) + timedelta(seconds=lead)
    tickets = []
    async with SqlUnitOfWork(engine) as uow:
        for i in range(count):
            offset = window_s * i / count
            accept_s = 2 * 3600  # nag at 1 h: we shift the start so the nag is due at base + offset
            start = base + timedelta(seconds=offset) - timedelta(seconds=accept_s * 0.5)
            t = transitions.open_ticket(
                ticket_id=await uow.tickets.next_id(), ticket_type="report_water", grid=GRIDS[i % len(GRIDS)],
                chat_id=GRIDS[i % len(GRIDS)], reporter=f"r{i}", assignee=None, location="1号楼", text="bench",
                policy=policy(accept_s), now=start,
            ).ticket  # fmt: skip
            await uow.tickets.insert(t, planner.next_due(t))
            tickets.append(t)
    trigger.start(measured)
    armed_at = time.perf_counter()
    for t in tickets:
        measured.due[t.id] = planner.next_due(t)  # type: ignore[assignment]
        cases.arm(t)
    print(f"timers: {count} tickets inserted and armed; arming took {time.perf_counter() - armed_at:.2f} s")
    deadline = time.monotonic() + lead + window_s + 120
    while measured.due and time.monotonic() < deadline:  # noqa: ASYNC110 - a bounded poll is the point
        await asyncio.sleep(0.5)
    trigger.shutdown()
    await engine.dispose()
    s, c = measured.started, measured.committed
    print(f"timers: fired {len(c)}/{count} over a {window_s:.0f} s window ({count / window_s:.0f} steps/s due)")
    print(f"timers: lateness at start   p50 {pct(s, 0.5):7.1f} ms  p99 {pct(s, 0.99):7.1f} ms  max {max(s):7.1f} ms")
    print(f"timers: lateness committed  p50 {pct(c, 0.5):7.1f} ms  p99 {pct(c, 0.99):7.1f} ms  max {max(c):7.1f} ms")


async def bulk_open(url: str, open_count: int, due_count: int) -> None:
    """Insert open tickets fast with one INSERT … SELECT: `due_count` overdue, the rest due in a day."""
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute("TRUNCATE ticket_events, messages, tickets RESTART IDENTITY CASCADE")
        now = datetime.now(UTC)
        body = json.dumps(policy_to_json(policy(7200)))
        await conn.execute(
            """
            INSERT INTO tickets (type, state, tier, grid, chat_id, reporter, assignee, location, text, created_at,
                rating, urgent, followers, ratings, close_reason, reopens, suspension, policy, clock_phase,
                clock_started_at, clock_base_tier, clock_step, clock_token, next_due_at)
            SELECT 'report_water', 'reported', 'grid', 'yg-1', 'yg-1', 'r' || g, 'w-yg-1', '1号楼', 'bench',
                $1::timestamptz, NULL, false, '[]', '{}', NULL, 0, '', $2::json, 'accept', $1::timestamptz, 'grid',
                0, 1, CASE WHEN g <= $4::int THEN $5::timestamptz ELSE $6::timestamptz END
            FROM generate_series(1, $3::int) AS g
            """,
            now - timedelta(hours=2), body, open_count, due_count, now - timedelta(hours=1), now + timedelta(days=1),
        )  # fmt: skip
        await conn.execute("ANALYZE tickets")
    finally:
        await conn.close()


def plain_engine(engine: AsyncEngine) -> EscalationEngine:
    renderer = Renderer(Templates.load(CONFIG / "templates.yaml"), lambda: DEMO)
    notifier = OutboxNotifier(renderer)
    now = lambda: datetime.now(UTC)  # noqa: E731
    return EscalationEngine(lambda: SqlUnitOfWork(engine), CaseService(notifier, now), lambda: DEMO, now)


async def audit_cost(url: str, open_counts: list[int], due_count: int) -> None:
    for n in open_counts:
        started = time.perf_counter()
        await bulk_open(url, n, due_count)
        load_s = time.perf_counter() - started
        engine = create_engine(url)
        eng = plain_engine(engine)
        queries = []
        for _ in range(20):
            q = time.perf_counter()
            async with SqlUnitOfWork(engine) as uow:
                due = await uow.tickets.due(datetime.now(UTC), 500)
            queries.append((time.perf_counter() - q) * 1000)
        q = time.perf_counter()
        fired = await eng.audit(limit=500)
        audit_ms = (time.perf_counter() - q) * 1000
        q = time.perf_counter()
        again = await eng.audit(limit=500)
        idle_ms = (time.perf_counter() - q) * 1000
        await engine.dispose()
        print(
            f"audit: {n:>9,} open, {len(due)} due (loaded in {load_s:.0f} s): due-query p50 "
            f"{statistics.median(queries):.2f} ms; audit firing {fired} took {audit_ms:.0f} ms "
            f"({audit_ms / max(fired, 1):.2f} ms/step); next pass (nothing due, fired {again}) {idle_ms:.1f} ms"
        )


async def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--timers", type=int, default=10_000)
    args.add_argument("--window", type=float, default=60.0)
    args.add_argument("--open", type=int, nargs="*", default=[10_000, 1_000_000])
    args.add_argument("--due", type=int, default=200)
    opts = args.parse_args()
    name = f"gridbot_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        if opts.timers:
            await live_timers(url, opts.timers, opts.window)
        if opts.open:
            await audit_cost(url, opts.open, opts.due)
    finally:
        admin = await asyncpg.connect(ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
