"""What one statement costs in the bot's own CPU: through SQLAlchemy's async engine (statement
built once), through `storage.prepared.StatementRunner` (what storage/sql.py runs the hot path with on
PostgreSQL: compiled once, run on the asyncpg connection underneath, SQLAlchemy's result
processors applied) and straight on asyncpg (prints numbers; not a pass/fail test). Before the
hot path moved to `StatementRunner`, the SQLAlchemy layer was the largest share of the bot's CPU per message
in bench/ingest.py.

    .venv/bin/python bench/sql_overhead.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import uvloop
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Database
from storage import tables as t
from storage.database import create_engine
from storage.migrate import upgrade
from storage.prepared import StatementRunner

ROWS, RUNS = 1000, 3000
BY_ID = select(t.messages).where(t.messages.c.id == bindparam("b_id"))


async def seed(conn: AsyncConnection) -> None:
    await conn.execute(text(
        "INSERT INTO messages (direction, sender, text, status, attempts, created_at, channel, chat_id) "
        "SELECT 'in', 'bench', 'hello', 'handled', 0, now(), 'web', 'g1' FROM generate_series(1, :n)"
    ), {"n": ROWS})  # fmt: skip


async def measure(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as conn:
        await seed(conn)
        await conn.commit()
        for i in range(200):  # warm the statement caches
            await conn.execute(BY_ID, {"b_id": i % ROWS + 1})
        started, wall = time.process_time(), time.perf_counter()
        for i in range(RUNS):
            (await conn.execute(BY_ID, {"b_id": i % ROWS + 1})).mappings().first()
        sa_cpu, sa_wall = time.process_time() - started, time.perf_counter() - wall
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        sql = "SELECT * FROM messages WHERE id = $1"
        started, wall = time.process_time(), time.perf_counter()
        for i in range(RUNS):
            dict((await raw.fetchrow(sql, i % ROWS + 1)) or {})
        pg_cpu, pg_wall = time.process_time() - started, time.perf_counter() - wall
        run = StatementRunner(conn, raw)
        started, wall = time.process_time(), time.perf_counter()
        for i in range(RUNS):
            await run.first(BY_ID, {"b_id": i % ROWS + 1})
        run_cpu, run_wall = time.process_time() - started, time.perf_counter() - wall
    await engine.dispose()
    print(f"one SELECT by primary key of a message row, {RUNS} times, PostgreSQL on this machine:")
    print(f"  SQLAlchemy async: {sa_cpu / RUNS * 1e6:5.0f} µs CPU, {sa_wall / RUNS * 1e6:5.0f} µs wall")
    print(f"  storage.prepared: {run_cpu / RUNS * 1e6:5.0f} µs CPU, {run_wall / RUNS * 1e6:5.0f} µs wall")
    print(f"  asyncpg directly: {pg_cpu / RUNS * 1e6:5.0f} µs CPU, {pg_wall / RUNS * 1e6:5.0f} µs wall")


def main() -> None:
    with Database() as db:
        upgrade(db.url)
        uvloop.run(measure(db.url))


if __name__ == "__main__":
    main()
