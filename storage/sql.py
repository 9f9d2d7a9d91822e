"""SQL repositories behind the core's ports, one transaction per unit of work.

The stores live in their own modules: `storage.tickets_sql`, `storage.messages_sql`, `storage.records_sql`,
`storage.channels_sql`, `storage.deliveries_sql`, `storage.city_sql`, `storage.accounts`,
`storage.points_sql` and `storage.figures_sql`; their row mappers in `storage.rows`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.accounts import SqlAccountStore
from storage.channels_sql import SqlChannelStore
from storage.city_sql import SqlCityStore
from storage.deliveries_sql import SqlDeliveryStore
from storage.figures_sql import SqlFigureStore
from storage.messages_sql import SqlMessageStore
from storage.places_sql import SqlPlaceStore
from storage.points_sql import SqlPointStore
from storage.prepared import StatementRunner, begin_raw
from storage.records_sql import SqlRecordStore
from storage.tickets_sql import SqlTicketStore


class SqlUnitOfWork:
    """One transaction (on an engine from `storage.database.autocommit`, one per statement)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._tx: Any = None

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        try:
            self._tx = await self._conn.begin()
            run = StatementRunner(self._conn, await begin_raw(self._conn))
        except BaseException:  # no __aexit__ follows a failed __aenter__: give the connection back
            await self._conn.close()
            self._conn = None
            raise
        self.tickets = SqlTicketStore(self._conn, run)
        self.messages = SqlMessageStore(self._conn, run)
        self.records = SqlRecordStore(self._conn)
        self.channels = SqlChannelStore(self._conn)
        self.deliveries = SqlDeliveryStore(self._conn, run)
        self.accounts = SqlAccountStore(self._conn)
        self.points = SqlPointStore(self._conn)
        self.city = SqlCityStore(self._conn)
        self.places = SqlPlaceStore(self._conn)
        self.figures = SqlFigureStore(self._conn, run)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        try:
            if exc_type is None:
                await self._tx.commit()
            else:
                await self._tx.rollback()
        finally:
            await self._conn.close()
            self._conn = None
