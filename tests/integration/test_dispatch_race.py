"""Two concurrent handlings of one inbound message (a client retrying before the first answer)
on both backends: both act, only the first to mark the row handled commits, and both answers
are that first one's. The store path commits per statement on PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dispatcher import Dispatcher
from bot.handlers import build_registry
from bot.messages import InboundMessage
from bot.nlu.catalog import load_catalog
from bot.nlu.port import Entity, Parse
from bot.render import Renderer, Templates
from config.policies import parse_policies
from config.settings import CONFIG
from storage import tables as t
from storage.database import autocommit
from storage.sql import SqlUnitOfWork
from tests.integration.test_engine_outbox import DEMO, Clock, cases, notifier
from tests.integration.test_quiet_hours import bj

LAMP = "5号楼路灯不亮"
POLICY = parse_policies({"default": {"accept": "1h", "resolve": "1d", "ladder": [{"tier": "community", "ack": "1h"}]}})


class SlowNlu:
    """Every handling parses, then waits until both have parsed: the two race into the act step."""

    def __init__(self, parties: int) -> None:
        self.arrived = 0
        self.parties = parties
        self.all_in = asyncio.Event()

    async def parse(self, text: str) -> Parse:
        assert text == LAMP
        self.arrived += 1
        if self.arrived == self.parties:
            self.all_in.set()
        await asyncio.wait_for(self.all_in.wait(), 10)
        return Parse("report_public_facility", 0.9, (Entity("building", 0, 3, "5号楼"),), "rasa")

    async def ready(self) -> bool:
        return True


def dispatcher(engine: AsyncEngine, nlu: SlowNlu) -> Dispatcher:
    catalog = load_catalog(CONFIG / "intents")
    store = autocommit(engine)
    return Dispatcher(
        uow=lambda: SqlUnitOfWork(engine), autocommit_uow=lambda: SqlUnitOfWork(store), nlu=nlu,
        handlers=build_registry(), notifier=notifier(),
        renderer=Renderer(Templates.load(CONFIG / "templates.yaml"), lambda: DEMO), directory=lambda: DEMO,
        policies=lambda: POLICY, catalog=lambda: catalog, now=(clock := Clock(bj(2026, 12, 1, 10, 0))),
        cases=cases(clock),
    )  # fmt: skip


async def count(engine: AsyncEngine, table: t.Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_concurrent_handlings_of_one_message_commit_once(engine: AsyncEngine) -> None:
    nlu = SlowNlu(parties=2)
    bot = dispatcher(engine, nlu)
    message = InboundMessage("yg-1", "张阿姨", LAMP, client_id="retry-1")
    stored, _ = await bot._store(message)  # the first attempt's row; both handlings act on it
    first, second = await asyncio.gather(
        bot._interpret(message, stored, DEMO.grid_for_chat("yg-1"), DEMO),  # type: ignore[arg-type]
        bot._interpret(message, stored, DEMO.grid_for_chat("yg-1"), DEMO),  # type: ignore[arg-type]
    )
    assert nlu.arrived == 2  # both really parsed and raced
    assert await count(engine, t.tickets) == 1
    assert first.replies == second.replies and len(first.replies) == 1 and first.replies[0].ticket_id
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.get(stored.id)
        assert row is not None and row.status.value == "handled"
        caused = await uow.messages.caused_by(stored.id)
    assert len([m for m in caused if m.chat_id == "yg-1"]) == 1  # one acknowledgement in the group


async def test_a_repeated_client_id_returns_the_first_answer(engine: AsyncEngine) -> None:
    nlu = SlowNlu(parties=1)
    bot = dispatcher(engine, nlu)
    message = InboundMessage("yg-1", "张阿姨", LAMP, client_id="retry-2")
    first = await bot.handle(message)
    again = await bot.handle(message)
    assert again.message_id == first.message_id and again.replies == first.replies
    assert nlu.arrived == 1 and await count(engine, t.messages) == 1 + len(first.replies) + 1  # in, ack, ping
