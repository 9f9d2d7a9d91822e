"""A PostgreSQL restart stays invisible: pooled connections whose server backends died are pinged
and replaced before use once they have rested `IDLE_PING_S`; busy ones are not pinged at all."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.database import create_engine


async def test_a_rested_connection_whose_backend_died_is_replaced(fresh_pg: str) -> None:
    engine = create_engine(fresh_pg)
    killer = create_engine(fresh_pg)
    try:
        async with engine.connect() as conn:
            victim = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        await asyncio.sleep(1.2)  # longer than IDLE_PING_S: the next checkout pings
        async with engine.connect() as conn:
            now = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert now != victim
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_a_connection_reused_at_once_is_not_pinged_and_a_failure_renews_the_pool(fresh_pg: str) -> None:
    """The trade-off, shown: a connection back in the pool for less than IDLE_PING_S is used
    unpinged, so a backend killed in that instant fails one statement; the pool is then
    invalidated and the caller's retry gets a new connection."""
    engine = create_engine(fresh_pg)
    killer = create_engine(fresh_pg)
    try:
        async with engine.connect() as conn:
            victim = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        with pytest.raises(DBAPIError) as failed:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert failed.value.connection_invalidated
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != victim
    finally:
        await engine.dispose()
        await killer.dispose()
