"""The figures' rollups kept and read (`tickets.rollups` is the pure arithmetic).

`FigureKeeper.case_changed` runs inside `CaseService.commit`, in the case change's transaction: it
reads what the case holds in the rollups now, folds the new events into its facts and moves the
rows by the difference. `rebuild` recomputes everything from the cases and their timelines
(`run_bot.py figures rebuild`; `serve` runs it once after the migration that added the rollups).
`Figures` reads sums for a jurisdiction and a period in the shapes of the pure definitions
(`escalation.bulletin`, `escalation.kpis`, `admin.dashboard` take them as they are).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from escalation.calendar import is_workday
from escalation.kpis import Counts, Kpis
from escalation.planner import overdue_at
from tickets import rollups
from tickets.directory import Directory
from tickets.model import Ticket, TicketEvent, Tier
from tickets.ports import Held, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
REBUILD_JOB = "figures-built:1"  # the job key `serve` claims to rebuild once after the migration
BATCH = 2000


def chain(directory: Directory, grid: str) -> list[str]:
    """The rollup nodes of a case in `grid`: the grid, its ancestors, the root."""
    ids = [n.id for n in directory.chain(grid)] if grid in directory.nodes else [grid]
    return rollups.chain_of(ids)


class FigureKeeper:
    def __init__(self, directory: Callable[[], Directory]) -> None:
        self._directory = directory

    async def case_changed(self, uow: UnitOfWork, ticket: Ticket, events: Sequence[TicketEvent]) -> None:
        held = await uow.figures.held(ticket.id)
        now = _held(ticket, held.facts if held else rollups.Facts(), events, self._directory())
        if held == now:
            return
        old = rollups.expand(rollups.contribution(held.snapshot, held.facts), held.chain) if held else {}
        await uow.figures.move(rollups.delta(old, _rows(now)))
        await uow.figures.hold(ticket.id, now)

    async def checked_in(self, uow: UnitOfWork, person: str, day: str) -> None:
        """A worker's first 报平安 of `day` (a workday's counts: the activity rate's definition)."""
        if is_workday(date.fromisoformat(day)):
            await uow.figures.move(rollups.checked_in(person, day))


def _held(ticket: Ticket, facts: rollups.Facts, events: Iterable[TicketEvent], directory: Directory) -> Held:
    return Held(tuple(chain(directory, ticket.grid)), rollups.Snapshot.of(ticket), rollups.fold(facts, events))


def _rows(held: Held) -> dict[rollups.Key, rollups.Vector]:
    return rollups.expand(rollups.contribution(held.snapshot, held.facts), held.chain)


async def rebuild(uow: UnitOfWork, directory: Directory, batch: int = BATCH) -> int:
    """Forget the rollups and recompute them from every case, its timeline and the check-ins, in the
    caller's transaction; also refreshes each case's `due_at`. Returns the cases counted."""
    await uow.figures.clear()
    after, counted = 0, 0
    while cases := await uow.tickets.batch_after(after, batch):
        history = await uow.tickets.events_of([t.id for t in cases])
        sums: dict[rollups.Key, rollups.Vector] = defaultdict(dict)
        for ticket in cases:
            held = _held(ticket, rollups.Facts(), history.get(ticket.id, ()), directory)
            for key, vector in _rows(held).items():
                sums[key] = rollups.add(sums[key], vector)
            await uow.figures.hold(ticket.id, held)
        await uow.figures.move(sums)
        await uow.tickets.set_due({t.id: overdue_at(t) for t in cases})
        after, counted = cases[-1].id, counted + len(cases)
    checkins: dict[rollups.Key, rollups.Vector] = defaultdict(dict)
    for person, day in await uow.records.checked_in("0000-00-00", "9999-99-99"):
        if is_workday(date.fromisoformat(day)):
            for key, vector in rollups.checked_in(person, day).items():
                checkins[key] = rollups.add(checkins[key], vector)
    await uow.figures.move(checkins)
    log.info("figures rebuilt: %d cases", counted)
    return counted


async def rebuild_once(uow_factory: UnitOfWorkFactory, directory: Directory, now: datetime) -> int | None:
    """Rebuild the first time this database runs a version with rollups (the migration left them empty)."""
    async with uow_factory() as uow:
        if not await uow.records.claim_job(REBUILD_JOB, now):
            return None
        return await rebuild(uow, directory)


# Reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A jurisdiction as rollup nodes (whole nodes of the tree, or the root) and its grids (None: all).
    `whole`: no node is a single grid, so every dimension's rows exist for it."""

    nodes: tuple[str, ...]
    grids: frozenset[str] | None
    whole: bool


def scope_of(directory: Directory, grids: Iterable[str] | None) -> Scope:
    """The fewest nodes covering exactly `grids` (None: the root, everything)."""
    if grids is None:
        return Scope((rollups.ROOT,), None, True)
    wanted = frozenset(grids)
    under: dict[str, set[str]] = defaultdict(set)
    for node in directory.nodes.values():
        if node.tier is Tier.GRID:
            for up in directory.chain(node.id):
                under[up.id].add(node.id)
    covering = {n for n, gs in under.items() if gs <= wanted}
    top = sorted(n for n in covering if not any(a.id in covering for a in directory.chain(n)[1:]))
    loose = wanted - {g for n in top for g in under[n]}  # grids the directory does not know
    whole = not loose and all(directory.nodes[n].tier is not Tier.GRID for n in top)
    return Scope((*top, *sorted(loose)), wanted, whole)


def vector_total(groups: Mapping[str, rollups.Vector]) -> rollups.Vector:
    out: rollups.Vector = {}
    for vector in groups.values():
        out = rollups.add(out, vector)
    return out


def kpis_of(
    total: rollups.Vector,
    departments: Mapping[str, rollups.Vector],
    tiers: Mapping[str, rollups.Vector],
    grids: Mapping[str, rollups.Vector],
) -> Kpis:
    out = Kpis()
    out.total = _counts(total)
    out.by_department.update({k: _counts(v) for k, v in departments.items() if _any_case(v)})
    out.by_tier.update({k: _counts(v) for k, v in tiers.items() if _any_case(v)})
    out.by_grid.update({k: _counts(v) for k, v in grids.items() if _any_case(v)})
    return out


def _any_case(v: Mapping[str, int]) -> bool:
    """A row some case counts in (rows left at zero by cases that moved on are not shown)."""
    return bool(v.get("created") or v.get("k_returns"))


def _counts(v: Mapping[str, int]) -> Counts:
    return Counts(**rollups.counts_fields(v))


Sums = Callable[[Sequence[str] | None, str, Sequence[rollups.Span], str], Awaitable[dict[str, rollups.Vector]]]


@dataclass(frozen=True)
class PeriodFigures:
    """A jurisdiction's counts over a period of local days, read from the rollups."""

    total: rollups.Vector
    nodes: dict[str, rollups.Vector]  # dimension '' per node of the jurisdiction's subtree
    types: dict[str, rollups.Vector]
    tiers: dict[str, rollups.Vector]
    departments: dict[str, rollups.Vector]
    created_per_day: dict[str, int]
    closed_per_day: dict[str, int]  # closes on each day, of cases closed now, whenever created
    people: dict[str, rollups.Vector]  # resolved (cases created in the period) and workday check-ins

    def kpis(self, directory: Directory) -> Kpis:
        grids = {k: v for k, v in self.nodes.items() if _is_grid(directory, k)}
        return kpis_of(self.total, self.departments, self.tiers, grids)


def _is_grid(directory: Directory, node: str) -> bool:
    known = directory.nodes.get(node)
    return known.tier is Tier.GRID if known else node not in ("", rollups.ROOT)


def subtree(directory: Directory, scope: Scope) -> list[str] | None:
    """The nodes at and under the jurisdiction's (None: every node)."""
    if rollups.ROOT in scope.nodes:
        return None
    tops = set(scope.nodes)
    under = [n.id for n in directory.nodes.values() if any(a.id in tops for a in directory.chain(n.id))]
    return sorted({*under, *(n for n in scope.nodes if n not in directory.nodes)})


async def read_period(sums: Sums, directory: Directory, scope: Scope, start: date, end: date) -> PeriodFigures:
    spans = rollups.spans(start, end)
    days = [rollups.Span("d", start.isoformat(), end.isoformat())]
    nodes = await sums(subtree(directory, scope), "", spans, "node")
    mine = list(scope.nodes)
    created = await sums(mine, "", days, "period")
    closed = await sums(mine, "closed", days, "period")
    return PeriodFigures(
        total=vector_total({n: nodes[n] for n in mine if n in nodes}),
        nodes=nodes,
        types=await sums(mine, "type", spans, "key"),
        tiers=await sums(mine, "tier", spans, "key"),
        departments=await sums(mine, "department", spans, "key"),
        created_per_day={d: v.get("created", 0) for d, v in created.items()},
        closed_per_day={d: v.get("closed_events", 0) for d, v in closed.items()},
        people=await sums([""], "person", spans, "key"),
    )


def memory_sums(
    cases: Iterable[tuple[Ticket, Sequence[TicketEvent]]], checkins: Iterable[tuple[str, str]], directory: Directory
) -> Sums:
    """`Sums` over rows built in memory from the given cases and check-ins: the pure path, for a
    jurisdiction of single grids (the rollups keep dimensions only above the grid)."""
    rows: dict[rollups.Key, rollups.Vector] = defaultdict(dict)
    for ticket, history in cases:
        for key, vector in _rows(_held(ticket, rollups.Facts(), history, directory)).items():
            rows[key] = rollups.add(rows[key], vector)
    for person, day in checkins:
        if is_workday(date.fromisoformat(day)):
            for key, vector in rollups.checked_in(person, day).items():
                rows[key] = rollups.add(rows[key], vector)

    async def sums(
        nodes: Sequence[str] | None, dim: str, spans: Sequence[rollups.Span], group: str
    ) -> dict[str, rollups.Vector]:
        return rollups.sums(rows, nodes, dim, spans, group)

    return sums
