"""The one error boundary: store the message, interpret it, act in one transaction, report back.

1. The inbound row is committed before anything else (nothing is lost; a repeated
   client_id returns the first answer).
2. NLU runs outside any transaction.
3. The handler's ticket changes, timeline events and outbox rows commit together, or not at all,
   with the inbound row marked handled. Two concurrent retries of one client_id may both act;
   only the first to mark the row handled commits, the other rolls back and returns its answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from bot.faq import Faq
from bot.handlers.context import Context, Handler
from bot.handlers.lookup import PLACE_STATES, waits_for_place
from bot.interpret import Route, Situation, route
from bot.logs import message_id
from bot.messages import Handled, InboundMessage, Reply
from bot.metrics import Metrics, NoMetrics
from bot.nlu import segments
from bot.nlu.catalog import Catalog
from bot.nlu.port import Nlu, Parse
from bot.render import Renderer
from escalation.cases import CaseService, StaleTicket
from escalation.policy import PolicyBook
from tickets.directory import Directory, Node, Person, Role, grid_by_place
from tickets.model import ACTIVE_STATES, Refused, TicketState
from tickets.ports import (
    Delivery,
    Direction,
    DuplicateMessage,
    NewMessage,
    Notifier,
    StoredMessage,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)
SITUATION_STATES = [*PLACE_STATES, TicketState.RESOLVED, TicketState.SUSPENDED]  # a sender's own cases that matter
SEVERAL_AT = 0.5  # a part of a message counts as a report of its own from this model confidence


class UnknownChat(LookupError):
    pass


class _AlreadyHandled(Exception):
    """A concurrent handling of the same inbound row committed first; this one rolls back."""


_CONFLICTS = frozenset({"40P01", "40001"})  # PostgreSQL: deadlock detected, serialization failure


def is_conflict(exc: BaseException) -> bool:
    """A PostgreSQL deadlock or serialization failure anywhere in the exception's chain: the whole
    transaction rolled back and may be retried as it is."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if getattr(seen, "sqlstate", None) in _CONFLICTS or getattr(seen, "pgcode", None) in _CONFLICTS:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


class Dispatcher:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        nlu: Nlu,
        autocommit_uow: UnitOfWorkFactory | None = None,
        handlers: Mapping[Route, Handler],
        notifier: Notifier,
        renderer: Renderer,
        directory: Callable[[], Directory],
        policies: Callable[[], PolicyBook],
        catalog: Callable[[], Catalog],
        now: Callable[[], datetime],
        cases: CaseService,
        faq: Callable[[], Faq] = Faq,
        followup_s: int = 600,
        metrics: Metrics | None = None,
    ) -> None:
        self._uow = uow
        self._store_uow = autocommit_uow or uow  # single inserts and lookups: may commit per statement
        self._nlu = nlu
        self._handlers = handlers
        self._notifier = notifier
        self._renderer = renderer
        self._directory = directory
        self._policies = policies
        self._catalog = catalog
        self._now = now
        self._cases = cases
        self._faq = faq
        self._followup_s = followup_s
        self._metrics = metrics or NoMetrics()

    async def handle(self, message: InboundMessage) -> Handled:
        directory = self._directory()
        node = directory.grid_for_chat(message.chat_id)
        if node is None:
            raise UnknownChat(message.chat_id)
        grid = grid_by_place(directory, node, message.shared_point(), message.private)
        stored, done = await self._store(message)
        if done is not None:
            return done
        token = message_id.set(stored.id)  # every log line of this handling names the message
        try:
            return await self._interpret(message, stored, grid, directory)
        finally:
            message_id.reset(token)

    async def _interpret(
        self, message: InboundMessage, stored: StoredMessage, grid: Node, directory: Directory
    ) -> Handled:
        started = time.perf_counter()
        parse = await self._nlu.parse(message.text)
        extra = await self._several(message.text, parse)
        parsed_s = time.perf_counter() - started
        self._metrics.parsed(parse.source, parsed_s)
        for attempt in range(3):
            try:
                return replace(await self._act(message, stored, parse, grid, directory, extra), nlu_s=parsed_s)
            except _AlreadyHandled:
                return replace(await self._answer_of(stored), nlu_s=parsed_s)
            except StaleTicket:
                log.info("message %s: ticket changed concurrently, retrying (%d)", stored.id, attempt + 1)
            except Exception as exc:
                if is_conflict(exc):  # two case changes took the same rollup rows in opposite orders
                    log.info("message %s: database conflict (%s), retrying (%d)", stored.id, exc, attempt + 1)
                    continue
                await self._mark_failed(stored, exc)
                raise
        raise RuntimeError(f"message {stored.id}: gave up after repeated conflicts")

    async def _several(self, text: str, parse: Parse) -> tuple[tuple[Parse, str], ...]:
        """A report that lists several problems: each part the model reads as a report of its own
        type (all of them, first included), or nothing when it is one problem."""
        is_report = self._catalog().is_report
        pieces = segments.parts(text) if is_report(parse.intent) and not parse.urgent else []
        if len(pieces) < 2:
            return ()
        found = [(await self._nlu.parse(piece), piece) for piece in pieces]
        reports = [(p, piece) for p, piece in found if is_report(p.intent) and p.confidence >= SEVERAL_AT]
        return tuple(reports) if len({p.intent for p, _ in reports}) >= 2 else ()

    async def _answer_of(self, stored: StoredMessage) -> Handled:
        async with self._store_uow() as uow:
            return await _answer(uow, stored)

    async def _store(self, message: InboundMessage) -> tuple[StoredMessage, Handled | None]:
        """Commit the inbound row; if this client_id was seen, return the earlier answer instead."""
        try:
            async with self._store_uow() as uow:
                if message.client_id:
                    earlier = await uow.messages.by_client_id(message.chat_id, message.client_id)
                    if earlier is not None:
                        return earlier, await self._earlier_answer(uow, earlier)
                stored = await uow.messages.add(_inbound(message), self._now())
            return stored, None
        except DuplicateMessage:  # the same client_id raced us; the winner's row is there now
            async with self._store_uow() as uow:
                assert message.client_id is not None
                earlier = await uow.messages.by_client_id(message.chat_id, message.client_id)
                assert earlier is not None
                return earlier, await self._earlier_answer(uow, earlier)

    @staticmethod
    async def _earlier_answer(uow: UnitOfWork, earlier: StoredMessage) -> Handled | None:
        if earlier.status is not Delivery.HANDLED:
            return None  # stored but never handled (crash, failure): handle it now
        return await _answer(uow, earlier)

    async def _act(
        self, message: InboundMessage, stored: StoredMessage, parse: Parse, grid: Node, directory: Directory,
        extra: tuple[tuple[Parse, str], ...] = (),
    ) -> Handled:  # fmt: skip
        sender = directory.person(message.sender)
        async with self._uow() as uow:
            catalog = self._catalog()
            situation = await _situation(uow, message, sender, self._now())
            key = route(parse, message.text, situation, catalog.is_report)
            ctx = Context(
                message=message, stored=stored, parse=parse, grid=grid, sender=sender, directory=directory,
                policies=self._policies(), catalog=catalog, now=self._now(), uow=uow,
                cases=self._cases, notifier=self._notifier, render=self._renderer.render, faq=self._faq(),
                followup_s=self._followup_s, extra_reports=extra if key is Route.REPORT else (),
            )  # fmt: skip
            try:
                await self._handlers[key](ctx)
            except Refused as refused:
                await ctx.refuse(refused)
            await _remember_place(ctx)
            # Claimed last, so the row lock is held only for the commit; a concurrent retry of the
            # same client_id that claimed it first wins, and this transaction rolls back.
            if not await uow.messages.claim_handled(stored.id, ctx.reading or parse.intent):
                raise _AlreadyHandled(stored.id)
        log.info("message %s in %s: %s (%s %.2f) → %s", stored.id, message.chat_id, parse.intent,
                 parse.source, parse.confidence, key)  # fmt: skip
        self._cases.committed(ctx.changed)
        self._metrics.handled(message.channel, key)
        return Handled(stored.id, _replies(message.chat_id, ctx.written))

    async def _mark_failed(self, stored: StoredMessage, exc: Exception) -> None:
        log.exception("message %s: handling failed; kept as failed for a retry", stored.id)
        try:
            async with self._uow() as uow:
                await uow.messages.set_status(stored.id, Delivery.FAILED, error=repr(exc)[:500])
        except Exception:
            log.exception("message %s: could not even mark it failed", stored.id)


async def _situation(uow: UnitOfWork, message: InboundMessage, sender: Person | None, now: datetime) -> Situation:
    """What the bot waits for from this sender here: the place of their draft, their word on a
    resolved case; and whether the message replies to a case post."""
    replied = await uow.messages.get(message.reply_to) if message.reply_to else None
    actor = sender.id if sender else message.sender
    waiting = await uow.tickets.find(chat_id=message.chat_id, reporter=actor, states=SITUATION_STATES, limit=10)
    draft = next((t for t in waiting if waits_for_place(t, now)), None)
    return Situation(
        sender=sender,
        replies_to_ticket=replied is not None and replied.ticket_id is not None,
        awaiting_location=draft.type if draft else None,
        awaiting_feedback=any(t.state is TicketState.RESOLVED for t in waiting),
        attachments=bool(message.attachments),
        open_types=frozenset(t.type for t in waiting if t.state in ACTIVE_STATES),
    )


async def _remember_place(ctx: Context) -> None:
    """A shared location is the map's: staff's last position (workers' layer, nearest-worker dispatch), and
    where the cases it was added to by their residents are (the case points)."""
    at = ctx.message.shared_point()
    if at is None:
        return
    if ctx.sender is not None and ctx.sender.role is not Role.ADMIN:
        await ctx.uow.places.record_position(ctx.sender.id, at, ctx.now)
    for ticket in {t.id: t for t in ctx.changed if ctx.actor in t.residents}.values():
        await ctx.uow.places.pin_case(ticket.id, at)


def _inbound(message: InboundMessage) -> NewMessage:
    return NewMessage(
        direction=Direction.IN,
        sender=message.sender,
        text=message.text,
        status=Delivery.RECEIVED,
        chat_id=message.chat_id,
        reply_to=message.reply_to,
        client_id=message.client_id,
        channel=message.channel,
        attachments=tuple(a.to_json() for a in message.attachments),
        private=message.private,
    )


async def _answer(uow: UnitOfWork, inbound: StoredMessage) -> Handled:
    """What handling `inbound` answered: the group replies it caused (a retry gets the same)."""
    return Handled(inbound.id, _replies(inbound.chat_id, await uow.messages.caused_by(inbound.id)))


def _replies(chat_id: str | None, written: list[StoredMessage]) -> tuple[Reply, ...]:
    return tuple(Reply(m.id, m.text, m.ticket_id, m.template) for m in written
                 if m.chat_id == chat_id and m.person_id is None)  # fmt: skip
