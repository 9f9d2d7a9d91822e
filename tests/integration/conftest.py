from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from storage.migrate import upgrade


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on the parametrised backend (SQLite file, fresh PostgreSQL schema)."""
    await asyncio.to_thread(upgrade, db_url)
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()
