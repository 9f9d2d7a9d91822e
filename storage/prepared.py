"""Prebuilt statements run straight on the asyncpg connection under the unit of work (PostgreSQL).

SQLAlchemy's async execution layer (greenlet hand-off, execution context, cursor adapter, result
metadata) cost about twice what asyncpg itself does per statement (`bench/sql_overhead.py`), and
a message takes 5–8 statements. So the hot path's statements, built once as SQLAlchemy
constructs, are compiled once for asyncpg and run on the same connection and transaction the
unit of work holds. SQLAlchemy stays the single source of the SQL and of the column types: its
own bind and result processors are applied. SQLite, and every statement not prebuilt, goes
through SQLAlchemy as before (`StatementRunner` with no raw connection).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
_PLACEHOLDER = re.compile(r"\$\d+|(?<!NOT) IN \(__\[POSTCOMPILE_\w+\]\)")
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Compiled:
    sql: str
    names: tuple[str, ...]  # the positional parameters, in order
    binds: tuple[Processor, ...]
    literals: Mapping[str, Any]  # values the statement itself binds (`status != 'handled'`)
    keys: tuple[str, ...]  # result columns
    results: tuple[Processor, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for name, bind in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else self.literals[name]
            out.append(bind(value) if bind is not None else value)
        return out

    def row(self, record: asyncpg.Record) -> dict[str, Any]:
        if not self.keys:  # a text() statement: its columns are known only from the result
            return dict(record.items())
        return {k: (p(v) if p is not None else v) for k, v, p in zip(self.keys, record, self.results, strict=True)}


@lru_cache(maxsize=512)
def compile_for_asyncpg(statement: Executable, keys: tuple[str, ...], many: bool = False) -> Compiled:
    """`statement` as asyncpg runs it; `keys` are the parameters given (they pick an INSERT's or
    UPDATE's columns). An expanding `IN` becomes `= ANY($n)` with the list bound as an array."""
    compiled = statement.compile(dialect=_DIALECT, column_keys=list(keys), for_executemany=many)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    if len(_PLACEHOLDER.findall(compiled.string)) != len(names):  # a bind used twice is numbered once
        raise ValueError(f"cannot run on asyncpg as prebuilt (a parameter appears twice): {compiled.string}")
    counter = iter(range(1, len(names) + 1))
    sql = _PLACEHOLDER.sub(lambda m: f" = ANY(${next(counter)})" if m[0].startswith(" IN") else f"${next(counter)}",
                           compiled.string)  # fmt: skip
    if "__[POSTCOMPILE" in sql:
        raise ValueError(f"cannot run on asyncpg as prebuilt: {compiled.string}")
    processors = compiled._bind_processors
    columns = compiled._result_columns
    return Compiled(
        sql=sql,
        names=names,
        binds=tuple(processors.get(n) for n in names),
        literals=_literals(compiled, keys),
        keys=tuple(c.keyname for c in columns),
        results=tuple(c.type._cached_result_processor(_DIALECT, None) for c in columns),
    )


def _literals(compiled: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values bound by the statement itself, and the scalar Python-side column defaults of
    the columns not given (SQLAlchemy computes those per execution; a callable one is refused)."""
    literals = {k: v for k, v in compiled.construct_params(_check=False).items() if k not in keys}
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        default = column.default if column in compiled.insert_prefetch else column.onupdate
        if default is None or not default.is_scalar:
            raise ValueError(f"cannot run on asyncpg as prebuilt: {column} has a computed default")
        literals[column.key] = default.arg
    return literals


class StatementRunner:
    """Runs a prebuilt statement on a unit of work's connection: on `raw` (the asyncpg connection
    under `conn`, in its transaction) when there is one, else through SQLAlchemy."""

    def __init__(self, conn: AsyncConnection, raw: asyncpg.Connection | None = None) -> None:
        self._c = conn
        self._raw = raw

    @property
    def raw(self) -> asyncpg.Connection | None:
        """The asyncpg connection in the unit of work's transaction (PostgreSQL), for COPY; else None."""
        return self._raw

    async def rows(self, statement: Executable, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        if self._raw is None:
            return cast(list[Mapping[str, Any]], (await self._c.execute(statement, dict(params))).mappings().all())
        compiled = compile_for_asyncpg(statement, tuple(params))
        args = compiled.args(params)
        records = await self._guard(self._raw.fetch(compiled.sql, *args), compiled, args)
        return [compiled.row(r) for r in records]

    async def first(self, statement: Executable, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        rows = await self.rows(statement, params)
        return rows[0] if rows else None

    async def scalar(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        row = await self.first(statement, params)
        if row is None:
            raise LookupError("the statement returned no row")
        return next(iter(row.values()))

    async def count(self, statement: Executable, params: Mapping[str, Any]) -> int:
        """Rows the statement wrote (INSERT, UPDATE, DELETE)."""
        if self._raw is None:
            result = await self._c.execute(statement, dict(params))
            return int(result.rowcount)
        compiled = compile_for_asyncpg(statement, tuple(params))
        args = compiled.args(params)
        status = await self._guard(self._raw.execute(compiled.sql, *args), compiled, args)
        return int(status.rsplit(" ", 1)[-1])

    async def each(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        """One statement, once per row (rows with the same keys)."""
        if self._raw is None:
            await self._c.execute(statement, [dict(r) for r in rows])
            return
        compiled = compile_for_asyncpg(statement, tuple(rows[0]), many=True)
        args = [compiled.args(r) for r in rows]
        await self._guard(self._raw.executemany(compiled.sql, args), compiled, args)

    async def _guard(self, call: Awaitable[Any], compiled: Compiled, args: Any) -> Any:
        assert self._raw is not None
        try:
            return await call
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(compiled.sql, args, exc) from exc  # what the stores catch on either backend
        except Exception:
            await surface_disconnect(self._c, self._raw)
            raise


async def begin_raw(conn: AsyncConnection) -> asyncpg.Connection | None:
    """On PostgreSQL, the asyncpg connection under `conn`, its transaction begun now (SQLAlchemy
    begins lazily, at the first statement it runs itself), so prebuilt statements run on it are
    inside the unit of work and commit or roll back with it. None elsewhere: all goes through
    SQLAlchemy. This and `surface_disconnect` are the only places that know SQLAlchemy's asyncpg
    adapter from the inside (pinned in requirements.txt; tests/integration/test_prepared.py)."""
    if conn.dialect.name != "postgresql":
        return None
    fairy = await conn.get_raw_connection()
    adapted, raw = fairy.dbapi_connection, fairy.driver_connection
    if adapted._transaction is None:  # type: ignore[union-attr]
        try:
            await adapted._start_transaction()  # type: ignore[union-attr]  # a no-op on an AUTOCOMMIT engine
        except Exception:
            await surface_disconnect(conn, raw)
            raise
    return raw


_PROBE = text("SELECT 1")


async def surface_disconnect(conn: AsyncConnection, raw: asyncpg.Connection) -> None:
    """After a failure on `raw`: if its server went away, let SQLAlchemy see it too. Its own
    statement then fails the way every SQLAlchemy statement does on a dead connection: the pool
    is invalidated (a PostgreSQL restart killed its siblings too) and `DBAPIError` is raised with
    `connection_invalidated` set, so callers see one kind of error whichever path failed."""
    if raw.is_closed():
        await conn.execute(_PROBE)
