"""Engine creation with the settings each backend needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` / `sqlite:///` URLs and pick the async drivers."""
    parsed = make_url(url)
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
    name = driver.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=name).render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine:
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        # Pre-ping costs a round trip per transaction (~7 % of the CPU in bench/ingest.py) but makes a
        # PostgreSQL restart invisible: a stale pooled connection is replaced before it is used.
        return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    _sqlite_serialised_writes(engine)
    return engine


def _sqlite_serialised_writes(engine: AsyncEngine) -> None:
    """Every transaction takes SQLite's write lock up front (BEGIN IMMEDIATE).

    Deferred transactions that read then write deadlock under concurrency ("database is
    locked"); taking the lock first makes concurrent writers wait their turn instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
