"""A PostgreSQL restart stays invisible: pooled connections whose server backends died are pinged
and replaced before use once they have rested `IDLE_PING_S`; busy ones are not pinged at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from storage.migrate import upgrade
from storage.sql import SqlUnitOfWork

Kill = Callable[[], Awaitable[int]]


async def backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.fixture
async def pooled(fresh_pg: str) -> AsyncIterator[tuple[AsyncEngine, Kill]]:
    """An engine with one pooled connection, and a way to kill that connection's server backend."""
    engine, killer = create_engine(fresh_pg), create_engine(fresh_pg)

    async def kill() -> int:
        victim = await backend(engine)
        async with killer.connect() as conn:
            # the timeout form waits until the backend has exited (the plain form only signals it,
            # and a statement sent at once could still be answered)
            ended = (await conn.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": victim})).scalar_one()
        assert ended
        return victim

    yield engine, kill
    await engine.dispose()
    await killer.dispose()


async def test_a_rested_connection_whose_backend_died_is_replaced(pooled: tuple[AsyncEngine, Kill]) -> None:
    engine, kill = pooled
    victim = await kill()
    await asyncio.sleep(1.2)  # longer than IDLE_PING_S: the next checkout pings
    assert await backend(engine) != victim


async def test_a_connection_reused_at_once_is_not_pinged_and_a_failure_renews_the_pool(
    pooled: tuple[AsyncEngine, Kill],
) -> None:
    """The trade-off, shown: a connection back in the pool for less than IDLE_PING_S is used
    unpinged, so a backend killed in that instant fails one statement; the pool is then
    invalidated and the caller's retry gets a new connection."""
    engine, kill = pooled
    victim = await kill()
    with pytest.raises(DBAPIError) as failed:
        await backend(engine)
    assert failed.value.connection_invalidated
    assert await backend(engine) != victim


async def test_a_prebuilt_statement_on_a_dead_connection_renews_the_pool_too(
    pooled: tuple[AsyncEngine, Kill], fresh_pg: str
) -> None:
    """The hot path runs prebuilt statements on asyncpg directly (`storage.prepared`); a dead
    connection there fails the same way as through SQLAlchemy, and the pool renews itself."""
    engine, kill = pooled
    await asyncio.to_thread(upgrade, fresh_pg)
    victim = await kill()
    with pytest.raises(DBAPIError) as failed:
        async with SqlUnitOfWork(engine) as uow:
            await uow.messages.get(1)
    assert failed.value.connection_invalidated
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.messages.get(1) is None
    assert await backend(engine) != victim
