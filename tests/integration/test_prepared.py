"""The hot path's prebuilt statements (`storage.prepared`): on PostgreSQL they run straight on
asyncpg, inside the same transaction as the unit of work's SQLAlchemy statements; on SQLite
they go through SQLAlchemy. The results must be the same on both."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from escalation import planner
from storage import sql
from storage.sql import SqlUnitOfWork
from tests.unit.factories import T0, new_ticket
from tickets import transitions
from tickets.model import TicketState
from tickets.ports import Delivery, Direction, NewMessage

OUT = NewMessage(Direction.OUT, "gridbot", "已受理", Delivery.PENDING, chat_id="c1")


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:  # another connection: sees committed rows only
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_prebuilt_and_sqlalchemy_statements_commit_together(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine) as uow:
        await uow.messages.add(OUT, T0)  # prebuilt
        await uow.channels.bind_chat("telegram", "-100", "c1")  # SQLAlchemy
        if engine.dialect.name == "postgresql":  # SQLite's write lock would block the reader
            assert await count(engine, "messages") == 0  # not autocommitted: inside the transaction
    assert await count(engine, "messages") == 1
    assert await count(engine, "channel_chats") == 1


async def test_prebuilt_and_sqlalchemy_statements_roll_back_together(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with SqlUnitOfWork(engine) as uow:
            ticket = replace(new_ticket(), id=await uow.tickets.next_id())
            await uow.tickets.insert(ticket, planner.next_due(ticket))
            await uow.messages.add(OUT, T0)
            await uow.channels.bind_chat("telegram", "-100", "c1")
            raise RuntimeError("the handler failed")
    assert [await count(engine, n) for n in ("tickets", "messages", "channel_chats")] == [0, 0, 0]


async def test_lists_bind_as_arrays_and_types_round_trip(engine: AsyncEngine) -> None:
    """`IN` over a list (several states, grids, ids) and the custom column types, both ways."""
    async with SqlUnitOfWork(engine) as uow:
        ids = []
        for grid in ("g1", "g2", "g3"):
            ticket = replace(new_ticket(), id=await uow.tickets.next_id(), grid=grid)
            await uow.tickets.insert(ticket, planner.next_due(ticket))
            ids.append(ticket.id)
        accepted = transitions.accept(ticket, "w1", T0).ticket
        assert await uow.tickets.update(accepted, planner.next_due(accepted), expected_token=ticket.clock.token)
        outs = [await uow.messages.add(OUT, T0) for _ in range(3)]
    async with SqlUnitOfWork(engine) as uow:
        found = await uow.tickets.find(states=[TicketState.REPORTED, TicketState.ACCEPTED], grids=["g2", "g3"])
        assert [(t.id, t.state) for t in found] == [(ids[2], TicketState.ACCEPTED), (ids[1], TicketState.REPORTED)]
        assert found[0] == accepted  # JSON policy, followers, ratings and UTC times came back as written
        assert [t.id for t in await uow.tickets.find(states=[TicketState.ACCEPTED])] == [ids[2]]
        await uow.messages.mark_sent([outs[0].id, outs[2].id])
        assert [m.id for m in await uow.messages.due_outbound(T0, 10)] == [outs[1].id]
        assert await uow.messages.claim_handled(outs[1].id, "chatter")
        assert not await uow.messages.claim_handled(outs[1].id, "chatter")


async def test_a_unit_of_work_that_fails_to_begin_gives_its_connection_back(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beginning now does I/O (the raw BEGIN); when it fails no `__aexit__` follows, so
    `__aenter__` itself must return the connection, or every such failure leaks a pool slot."""

    async def failing(_conn: object) -> None:
        raise RuntimeError("BEGIN failed")

    monkeypatch.setattr(sql, "begin_raw", failing)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            async with SqlUnitOfWork(engine):
                pass
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
