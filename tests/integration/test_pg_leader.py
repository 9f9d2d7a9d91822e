"""The PostgreSQL advisory-lock leader: one holder at a time, hand-over when the holder resigns or
its session dies."""

from __future__ import annotations

from sqlalchemy import text

from storage.database import create_engine
from storage.pg_leader import PgAdvisoryLeader


async def test_one_leader_at_a_time_and_hand_over(fresh_pg: str) -> None:
    first_engine, second_engine = create_engine(fresh_pg), create_engine(fresh_pg)
    first, second = PgAdvisoryLeader(first_engine, key=4242), PgAdvisoryLeader(second_engine, key=4242)
    try:
        assert await first.is_leader()
        assert not await second.is_leader()
        assert await first.is_leader()  # still, and it stays the holder
        await first.resign()
        assert await second.is_leader()
        assert not await first.is_leader()
        # the holder's session dies (a killed process): PostgreSQL frees the lock. Plain
        # pg_terminate_backend(pid) only signals the backend, so the lock may still be held when
        # it returns; the timeout form waits (up to 10 s) until that backend has exited.
        async with first_engine.connect() as conn:
            killed = (
                await conn.execute(
                    text(
                        "SELECT bool_and(pg_terminate_backend(l.pid, 10000)) FROM pg_locks l"
                        " JOIN pg_database d ON d.oid = l.database"
                        " WHERE l.locktype = 'advisory' AND l.objid = 4242 AND d.datname = current_database()"
                    )
                )
            ).scalar_one()
            await conn.commit()
        assert killed
        assert await first.is_leader()
        assert not await second.is_leader()  # it notices its session is gone and asks again
    finally:
        await first.resign()
        await second.resign()
        await first_engine.dispose()
        await second_engine.dispose()
