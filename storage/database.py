"""Engine creation with the settings each backend needs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
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
        engine = create_async_engine(url, pool_size=10, max_overflow=10)
        _ping_when_idle(engine)
        return engine
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_sqlite_file(Path(database))
    engine = create_async_engine(url, connect_args={"timeout": 30})
    _sqlite_serialised_writes(engine)
    return engine


def private_sqlite_file(path: Path) -> None:
    """The SQLite file holds every case, residents' phone numbers and the admin accounts: readable and
    writable by the bot's user only (0600, like `var/api_token`), whatever the umask. It is created so
    before SQLite first opens it (every command opens the database through `create_engine`, migrations
    too), and an older file that is looser is tightened. SQLite gives its `-wal` and `-shm` files the
    database file's mode; leftovers from before are tightened as well."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for part in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mode & 0o077:
                part.chmod(0o600)


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, each statement committed on its own on PostgreSQL: no BEGIN/COMMIT round
    trips, for units whose writes are each atomic alone (storing an inbound message). SQLite keeps
    ordinary transactions: its serialised BEGIN IMMEDIATE is what keeps concurrent writers apart."""
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


IDLE_PING_S = 1.0


def _ping_when_idle(engine: AsyncEngine, idle_s: float = IDLE_PING_S) -> None:
    """Ping a pooled connection before use only if it sat idle for `idle_s` or more.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, and on asyncpg a ping is three round
    trips (BEGIN, `;`, ROLLBACK): with two transactions per message that was a sixth of the
    bot's CPU in bench/ingest.py. A PostgreSQL restart still stays invisible: it kills the
    connections resting in the pool, and a resting connection is pinged and replaced before use.
    One returned less than `idle_s` ago was alive then; if it died since, the statement fails,
    SQLAlchemy invalidates the whole pool, and the caller's retry gets a fresh connection.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is not None and time.monotonic() - returned < idle_s:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError("stale pooled connection") from exc  # the pool replaces it and retries


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


def redis_namespace(prefix: str | None, database_url: str) -> str:
    """The prefix of a deployment's Redis keys: `prefix` if set, else one derived from the database
    URL (password left out). Every process of a deployment shares its database, so they share the
    keys; another deployment (or a benchmark, a test run) on the same Redis does not."""
    if prefix:
        return prefix
    where = make_url(normalise_url(database_url)).render_as_string(hide_password=True)
    return f"gridbot:{hashlib.sha1(where.encode()).hexdigest()[:10]}"
