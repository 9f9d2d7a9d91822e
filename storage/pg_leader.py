"""Scheduler leader election through a PostgreSQL session advisory lock (for PostgreSQL without Redis).

The leader holds `pg_try_advisory_lock(KEY)` on a connection of its own; PostgreSQL releases it
when that session ends (the process died or the connection broke), and the next process to ask
takes it. Each check also pings the held connection, so a leader whose session was lost stops
leading at once. Jobs stay fenced by clock tokens, so a hand-over overlap cannot double-fire.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)
KEY = 0x67726964  # "grid"


class PgAdvisoryLeader:
    def __init__(self, engine: AsyncEngine, key: int = KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def is_leader(self) -> bool:
        async with self._lock:
            if self._conn is not None:
                try:
                    await self._conn.execute(text("SELECT 1"))
                    return True
                except Exception:
                    log.warning("lost the leader session; asking again")
                    await self._drop(broken=True)
            return await self._try()

    async def _try(self) -> bool:
        conn = await self._engine.connect()
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})).scalar_one()
            await conn.commit()  # the session lock outlives the transaction
        except Exception:
            await conn.close()
            raise
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def _drop(self, broken: bool = False) -> None:
        """Give the session back; a broken one is invalidated so the pool never hands it out again."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await (conn.invalidate() if broken else conn.close())
            except Exception:
                log.debug("closing a broken leader connection", exc_info=True)

    async def resign(self) -> None:
        """Release the lock; if the session is already gone (PostgreSQL restarted, the backend was
        terminated) PostgreSQL released it with the session, so there is nothing left to do."""
        async with self._lock:
            if self._conn is None:
                return
            try:
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                await self._conn.commit()
            except Exception:
                log.info("leader session already gone while resigning; its lock went with it")
                await self._drop(broken=True)
                return
            await self._drop()
