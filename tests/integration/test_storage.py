"""The SQL adapters on real SQLite and real PostgreSQL, migrated by Alembic."""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from config.directory import load_directory_file
from config.settings import CONFIG
from escalation import planner
from storage.database import create_engine
from storage.directory import load_directory, save_directory
from storage.migrate import alembic_config, upgrade
from storage.sql import SqlUnitOfWork
from storage.tables import metadata
from tests.unit.factories import T0, new_ticket
from tickets import transitions
from tickets.model import TicketEvent, TicketState
from tickets.ports import Delivery, Direction, DuplicateMessage, NewMessage


async def test_migrations_match_the_tables_and_downgrade_cleanly(engine: AsyncEngine, db_url: str) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
    assert diff == []
    await asyncio.to_thread(command.downgrade, alembic_config(db_url), "base")
    await asyncio.to_thread(upgrade, db_url)


async def test_ticket_round_trip_with_events(engine: AsyncEngine) -> None:
    ticket = new_ticket()
    async with SqlUnitOfWork(engine) as uow:
        ticket = replace(ticket, id=await uow.tickets.next_id())
        await uow.tickets.insert(ticket, planner.next_due(ticket))
        await uow.tickets.add_events(ticket.id, [TicketEvent("reported", "张阿姨", T0, {"text": "垃圾"})])
    async with SqlUnitOfWork(engine) as uow:
        loaded = await uow.tickets.get(ticket.id)
        events = await uow.tickets.events(ticket.id)
    assert loaded == ticket
    assert [(e.kind, e.actor, e.at, dict(e.detail)) for e in events] == [("reported", "张阿姨", T0, {"text": "垃圾"})]


async def test_update_is_fenced_by_the_clock_token(engine: AsyncEngine) -> None:
    ticket = new_ticket()
    async with SqlUnitOfWork(engine) as uow:
        ticket = replace(ticket, id=await uow.tickets.next_id())
        await uow.tickets.insert(ticket, planner.next_due(ticket))
    accepted = transitions.accept(ticket, "w1", T0).ticket
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.tickets.update(accepted, planner.next_due(accepted), expected_token=ticket.clock.token)
    async with SqlUnitOfWork(engine) as uow:  # a second writer planned from the old token loses
        assert not await uow.tickets.update(accepted, None, expected_token=ticket.clock.token)
        assert (await uow.tickets.get(ticket.id)).state is TicketState.ACCEPTED  # type: ignore[union-attr]


async def test_due_returns_only_tickets_past_their_deadline(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine) as uow:
        for offset in (0, 100):
            t = new_ticket(now=T0 + timedelta(seconds=offset))
            t = replace(t, id=await uow.tickets.next_id())
            await uow.tickets.insert(t, planner.next_due(t))
        closed = transitions.confirm(transitions.resolve(new_ticket(), "w1", "", T0).ticket, "张阿姨", T0).ticket
        closed = replace(closed, id=await uow.tickets.next_id())
        await uow.tickets.insert(closed, planner.next_due(closed))
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.tickets.due(T0 + timedelta(seconds=3), 10) == [1]
        assert sorted(await uow.tickets.due(T0 + timedelta(seconds=500), 10)) == [1, 2]
        soon = await uow.tickets.scheduled(T0 + timedelta(seconds=50))
        assert [(tid, token) for tid, _, token in soon] == [(1, 1)]  # the other is due later than that
        assert len(await uow.tickets.scheduled(T0 + timedelta(days=1))) == 2


async def test_client_id_is_unique_per_chat_and_rollback_leaves_nothing(engine: AsyncEngine) -> None:
    msg = NewMessage(Direction.IN, "张阿姨", "你好", Delivery.RECEIVED, chat_id="c1", client_id="abc")
    async with SqlUnitOfWork(engine) as uow:
        first = await uow.messages.add(msg, T0)
    with pytest.raises(DuplicateMessage):
        async with SqlUnitOfWork(engine) as uow:
            await uow.messages.add(NewMessage(Direction.OUT, "gridbot", "x", Delivery.PENDING, chat_id="c1"), T0)
            await uow.messages.add(msg, T0)
    async with SqlUnitOfWork(engine) as uow:
        assert [m.id for m in await uow.messages.chat("c1", 0, 10)] == [first.id]  # the bot row rolled back
        assert (await uow.messages.by_client_id("c1", "abc")) == first


async def test_the_group_transcript_leaves_out_one_to_one_lines(engine: AsyncEngine) -> None:
    group = NewMessage(Direction.IN, "张阿姨", "路灯坏了", Delivery.RECEIVED, chat_id="c1", client_id="g1")
    line = NewMessage(Direction.IN, "微信用户0001#wx1", "电话13900001111", Delivery.RECEIVED, chat_id="c1",
                      client_id="oa-1", channel="wechat", private=True)  # fmt: skip
    async with SqlUnitOfWork(engine) as uow:
        said = await uow.messages.add(group, T0)
        private = await uow.messages.add(line, T0)
        answer = await uow.messages.add(
            NewMessage(Direction.OUT, "gridbot", "@微信用户0001 已收到", Delivery.PENDING, chat_id="c1",
                       cause_id=private.id, private=True), T0,
        )  # fmt: skip
        post = await uow.messages.add(NewMessage(Direction.OUT, "gridbot", "@张阿姨 已收到", Delivery.PENDING,
                                                 chat_id="c1", cause_id=said.id), T0)  # fmt: skip
    async with SqlUnitOfWork(engine) as uow:
        assert [m.id for m in await uow.messages.chat("c1", 0, 10)] == [said.id, post.id]
        assert (await uow.messages.get(private.id)) == private and private.private
        assert (await uow.messages.by_client_id("c1", "oa-1")) == private  # still found for a retry's dedupe
        assert [m.id for m in await uow.messages.caused_by(private.id)] == [answer.id]


async def test_the_migration_marks_what_one_to_one_lines_received_as_private(db_url: str) -> None:
    """Rows stored before `messages.private` existed: the Official Account's messages and the bot's
    answers to them, and the WeCom app's messages, leave the transcript too."""
    await asyncio.to_thread(upgrade, db_url, "0007")
    eng = create_engine(db_url)
    rows = [  # id, direction, channel, client_id, cause_id
        (1, "in", "web", "w-1", None), (2, "out", "web", None, 1),
        (3, "in", "wechat", "oa-1", None), (4, "out", "web", None, 3),
        (5, "in", "wecom", "wcapp-1", None), (6, "in", "wecom", "wc-1", None),
    ]  # fmt: skip
    try:
        async with eng.begin() as conn:
            for mid, direction, channel, client_id, cause in rows:
                await conn.execute(
                    text("INSERT INTO messages (id, direction, channel, chat_id, sender, text, client_id, cause_id,"
                         " status, attempts, created_at, attachments) VALUES (:id, :d, :ch, 'c1', 's', 't', :cl,"
                         " :cause, 'sent', 0, :at, '[]')"),
                    {"id": mid, "d": direction, "ch": channel, "cl": client_id, "cause": cause, "at": T0},
                )  # fmt: skip
        await asyncio.to_thread(upgrade, db_url)
        async with SqlUnitOfWork(eng) as uow:
            assert [m.id for m in await uow.messages.chat("c1", 0, 10)] == [1, 2, 6]
    finally:
        await eng.dispose()


async def test_directory_round_trip(engine: AsyncEngine) -> None:
    assert await load_directory(engine) is None
    demo = load_directory_file(CONFIG / "grids.demo.yaml")
    await save_directory(engine, demo)
    await save_directory(engine, demo)  # importing again replaces, never duplicates
    loaded = await load_directory(engine)
    assert loaded is not None
    assert loaded.nodes == demo.nodes and loaded.people == demo.people
    assert loaded.departments == demo.departments


async def test_counts_for_metrics(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine) as uow:
        for resolved in (False, False, True):
            t = new_ticket()
            t = transitions.resolve(t, "w1", "", T0).ticket if resolved else t
            t = replace(t, id=await uow.tickets.next_id())
            await uow.tickets.insert(t, planner.next_due(t))
        counts = await uow.tickets.counts()
        assert counts == {"tickets": {"reported": 2, "resolved": 1}, "tiers": {"grid": 2}}
        assert await uow.messages.outbox_counts() == {}


async def test_the_sqlite_file_and_its_wal_are_private_to_the_bots_user(tmp_path: Path) -> None:
    """0600 like var/api_token, whatever the umask: it holds residents' phone numbers and the accounts."""
    fresh, older = tmp_path / "data" / "fresh.db", tmp_path / "older.db"
    older.write_bytes(b"")
    older.chmod(0o644)  # a file made before, world-readable
    previous = os.umask(0o022)
    try:
        for path in (fresh, older):
            await asyncio.to_thread(upgrade, f"sqlite:///{path}")  # migrations open the file first
            engine = create_engine(f"sqlite:///{path}")
            async with SqlUnitOfWork(engine) as uow:
                await uow.tickets.insert(new_ticket(), None)
            for part in (path, path.with_name(f"{path.name}-wal")):
                assert stat.S_IMODE(part.stat().st_mode) == 0o600, part
            await engine.dispose()
    finally:
        os.umask(previous)
