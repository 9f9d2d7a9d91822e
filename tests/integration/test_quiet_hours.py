"""Quiet hours through the real dispatcher and outbox: a broken lamp reported at 23:00 is
acknowledged in the group at once, but the worker's ping waits in the outbox until 07:30;
an emergency at the same minute pings everyone at once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dispatcher import Dispatcher
from bot.handlers import build_registry
from bot.messages import InboundMessage
from bot.nlu.catalog import load_catalog
from bot.nlu.port import Entity, Parse
from bot.render import Renderer, Templates
from config.policies import parse_policies
from config.settings import CONFIG
from escalation.calendar import LOCAL
from storage.sql import SqlUnitOfWork
from tests.integration.test_engine_outbox import DEMO, Clock, cases, notifier

POLICY = parse_policies({"default": {"accept": "1h", "resolve": "1d", "quiet_hours": "21:00-07:30",
                                     "ladder": [{"tier": "community", "ack": "1h"}, {"tier": "township", "ack": "1h"},
                                                {"tier": "district", "ack": "1h"}]}})  # fmt: skip


class ScriptedNlu:
    """Answers only the texts it was given; anything else is a test bug and fails loudly."""

    def __init__(self, answers: dict[str, Parse]) -> None:
        self.answers = answers

    async def parse(self, text: str) -> Parse:
        if text not in self.answers:
            raise AssertionError(f"unexpected NLU call: {text!r}")
        return self.answers[text]

    async def ready(self) -> bool:
        return True


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL).astimezone(UTC)  # type: ignore[misc]


async def test_staff_pings_wait_for_the_morning_but_the_group_ack_and_emergencies_do_not(
    engine: AsyncEngine,
) -> None:
    lamp, fire = "5号楼路灯不亮", "5号楼着火了"
    nlu = ScriptedNlu({
        lamp: Parse("report_public_facility", 0.9, (Entity("building", 0, 3, "5号楼"),), "rasa"),
        fire: Parse("report_fire_safety", 1.0, (Entity("building", 0, 3, "5号楼"),), "emergency", urgent=True),
    })  # fmt: skip
    clock = Clock(bj(2026, 12, 1, 23, 0))
    catalog = load_catalog(CONFIG / "intents")
    dispatcher = Dispatcher(
        uow=lambda: SqlUnitOfWork(engine), nlu=nlu, handlers=build_registry(), notifier=notifier(),
        renderer=Renderer(Templates.load(CONFIG / "templates.yaml"), lambda: DEMO), directory=lambda: DEMO,
        policies=lambda: POLICY, catalog=lambda: catalog, now=clock, cases=cases(clock),
    )  # fmt: skip
    await dispatcher.handle(InboundMessage("yg-1", "张阿姨", lamp))
    async with SqlUnitOfWork(engine) as uow:
        due_now = await uow.messages.due_outbound(clock.now, 100)
        due_morning = await uow.messages.due_outbound(bj(2026, 12, 2, 7, 30), 100)
    assert [(m.chat_id, m.person_id) for m in due_now] == [("yg-1", None)]  # the ack only
    assert ("w-yg-1" in [m.person_id for m in due_morning]) and len(due_morning) == 2

    await dispatcher.handle(InboundMessage("yg-1", "李大爷", fire))
    async with SqlUnitOfWork(engine) as uow:
        due_now = await uow.messages.due_outbound(clock.now, 100)
    pinged = {m.person_id for m in due_now if m.person_id}
    assert {"w-yg-1", "o-yangguang", "o-xingfu", "o-shifan"} <= pinged  # urgent: everyone, now
