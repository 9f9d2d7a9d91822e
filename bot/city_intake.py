"""Cases from the city's hotline platform (12345, 接诉即办) into the grid: `POST /api/v1/cases`.

A case names one of our ticket types, a micro-grid of the directory and, optionally, the handling
deadline the platform set (`tickets.city`: the worker takes it under the policy's accept time, then
the handling clock aims at that deadline). The platform's id makes the call idempotent: the same id
again answers the ticket opened the first time, also when two calls race (the unique `external_id`
column decides; the loser reads the winner's ticket).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.nlu.catalog import Catalog
from escalation.cases import CaseService
from escalation.policy import PolicyBook
from tickets.city import open_city_case
from tickets.directory import Directory, Node
from tickets.model import Tier
from tickets.ports import DuplicateCase, UnitOfWorkFactory
from tickets.transitions import CONSULT

URGENT_POLICY = "urgent"  # as for a resident's report: a `types.urgent` policy applies to urgent types
MAX_AHEAD = timedelta(days=366)  # a deadline further off is a typo (a year in the wrong place)


@dataclass(frozen=True)
class CityCase:
    external_id: str
    type: str
    text: str
    location: str
    grid: str
    deadline: datetime | None = None  # aware


class CaseRefused(Exception):
    """The case cannot be taken as sent; the message says why (in Chinese and English)."""


class CityIntake:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cases: CaseService,
        directory: Callable[[], Directory],
        policies: Callable[[], PolicyBook],
        catalog: Callable[[], Catalog],
        now: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._cases = cases
        self._directory = directory
        self._policies = policies
        self._catalog = catalog
        self._now = now

    async def receive(self, case: CityCase) -> tuple[int, bool]:
        """(ticket id, whether it was opened now): a known `external_id` answers its ticket, whatever
        else the repeat says. Raises `CaseRefused` for a type, grid or deadline we cannot take."""
        known = await self._known(case.external_id)
        if known is not None:
            return known, False
        try:
            return await self._open(case), True
        except DuplicateCase:  # a concurrent call with the same id committed first
            known = await self._known(case.external_id)
            if known is None:
                raise
            return known, False

    async def _known(self, external_id: str) -> int | None:
        async with self._uow() as uow:
            return await uow.city.case_of(external_id)

    async def _open(self, case: CityCase) -> int:
        now, directory, catalog, policies = self._now(), self._directory(), self._catalog(), self._policies()
        grid = _grid(directory, case.grid)
        urgent = _check_type(catalog, case.type)
        _check_deadline(case.deadline, now)
        workers = directory.workers_of(grid.id)
        policy = policies.for_type(policy_key(policies, catalog, case.type, urgent))
        async with self._uow() as uow:
            outcome = open_city_case(
                ticket_id=await uow.tickets.next_id(), external_id=case.external_id, ticket_type=case.type,
                grid=grid.id, chat_id=str(grid.chat_id), assignee=workers[0].id if workers else None,
                location=case.location, text=case.text, policy=policy, now=now, deadline=case.deadline,
                urgent=urgent, directory=directory,
            )  # fmt: skip
            await self._cases.commit(uow, outcome, before=None, now=now)
        self._cases.committed([outcome.ticket])
        return outcome.ticket.id


def policy_key(policies: PolicyBook, catalog: Catalog, ticket_type: str, urgent: bool) -> str:
    """The policy a case of this type runs under (as `bot.handlers.report` picks it for a report)."""
    if urgent and URGENT_POLICY in policies.by_type:
        return URGENT_POLICY
    if ticket_type == CONSULT:
        return CONSULT
    return catalog.ticket(ticket_type).policy or ticket_type


def _grid(directory: Directory, grid_id: str) -> Node:
    node = directory.nodes.get(grid_id)
    if node is None or node.tier is not Tier.GRID or not node.chat_id:
        raise CaseRefused(f"未知的微网格 {grid_id!r} / unknown micro-grid {grid_id!r} "
                          "(GET /api/v1/directory lists the grids: nodes of tier grid)")  # fmt: skip
    return node


def _check_type(catalog: Catalog, ticket_type: str) -> bool:
    """Whether a case of this known type is urgent; refuses a type we do not handle."""
    types = [*catalog.reports(), CONSULT]
    if ticket_type not in types:
        raise CaseRefused(f"未知的类型 {ticket_type!r} / unknown type {ticket_type!r}; one of: {', '.join(types)}")
    return catalog.ticket(ticket_type).severity == "urgent"


def _check_deadline(deadline: datetime | None, now: datetime) -> None:
    if deadline is None:
        return
    if deadline <= now:
        raise CaseRefused("办结时限已过 / deadline is not in the future")
    if deadline > now + MAX_AHEAD:
        raise CaseRefused("办结时限超过一年 / deadline is more than a year ahead")
