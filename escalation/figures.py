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
FLUSH_AT = 200_000  # rollup rows summed in memory before a rebuild writes them


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


async def rebuild(uow: UnitOfWork, directory: Directory, batch: int = BATCH, flush_at: int = FLUSH_AT) -> int:
    """Forget the rollups and recompute them from every case, its timeline and the check-ins, in the
    caller's transaction; also refreshes `due_at` of the cases that can be late. Sums are kept in
    memory up to `flush_at` rows, then added to the table. Returns the cases counted."""
    await uow.figures.clear()
    sums: dict[rollups.Key, rollups.Vector] = {}
    after, counted = 0, 0
    while cases := await uow.tickets.batch_after(after, batch):
        history = await uow.tickets.events_of([t.id for t in cases])
        held = {t.id: _held(t, rollups.Facts(), history.get(t.id, ()), directory) for t in cases}
        for one in held.values():
            _sum_into(sums, _rows(one))
        await uow.figures.hold_many(held)
        await uow.tickets.set_due({t.id: due for t in cases if (due := overdue_at(t)) is not None})
        if len(sums) >= flush_at:
            await uow.figures.move(sums)
            sums = {}
        after, counted = cases[-1].id, counted + len(cases)
    for person, day in await uow.records.checked_in("0000-00-00", "9999-99-99"):
        if is_workday(date.fromisoformat(day)):
            _sum_into(sums, rollups.checked_in(person, day))
    await uow.figures.move(sums)
    log.info("figures rebuilt: %d cases", counted)
    return counted


def _sum_into(sums: dict[rollups.Key, rollups.Vector], rows: Mapping[rollups.Key, rollups.Vector]) -> None:
    """Add `rows` into `sums` in place (the vectors of `rows` are never changed: they may be shared)."""
    for key, vector in rows.items():
        have = sums.get(key)
        if have is None:
            sums[key] = dict(vector)
        else:
            for metric, n in vector.items():
                have[metric] = have.get(metric, 0) + n


async def rebuild_once(uow_factory: UnitOfWorkFactory, directory: Directory, now: datetime) -> int | None:
    """Rebuild the first time this database runs a version with rollups (the migration left them empty);
    a database built by `figures rebuild` has the job claimed already."""
    async with uow_factory() as uow:
        if not await uow.records.claim_job(REBUILD_JOB, now):
            return None
        return await rebuild(uow, directory)


async def rebuild_now(uow_factory: UnitOfWorkFactory, directory: Directory, now: datetime) -> int:
    """`figures rebuild`: recompute now, and mark the one-time rebuild done."""
    async with uow_factory() as uow:
        await uow.records.claim_job(REBUILD_JOB, now)
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


Sums = Callable[..., Awaitable[dict[str, rollups.Vector]]]  # `FigureStore.sums`


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
    grid_kpis: bool = False  # `nodes` carry the KPI counts: the assessment has its per-grid rows

    def kpis(self, directory: Directory) -> Kpis:
        """The assessment figures (per grid only when read with `grid_kpis`: thousands of rows)."""
        grids = {k: v for k, v in self.nodes.items() if self.grid_kpis and _is_grid(directory, k)}
        return kpis_of(self.total, self.departments, self.tiers, grids)


def _is_grid(directory: Directory, node: str) -> bool:
    known = directory.nodes.get(node)
    return known.tier is Tier.GRID if known else node not in ("", rollups.ROOT)


def _within(rows: dict[str, rollups.Vector], nodes: Sequence[str] | None) -> dict[str, rollups.Vector]:
    return rows if nodes is None else {n: rows[n] for n in nodes if n in rows}


def subtree(directory: Directory, scope: Scope) -> list[str] | None:
    """The nodes at and under the jurisdiction's (None: every node)."""
    if rollups.ROOT in scope.nodes:
        return None
    under = {n for top in scope.nodes for n in directory.under(top)}
    return sorted({*under, *(n for n in scope.nodes if n not in directory.nodes)})


@dataclass(frozen=True)
class Shared:
    """Per-node and per-person rows of a period read once for several jurisdictions within them."""

    nodes: dict[str, rollups.Vector]
    people: dict[str, rollups.Vector]


async def read_shared(sums: Sums, directory: Directory, scope: Scope, start: date, end: date) -> Shared:
    """Every node's table figures and KPI counts, and every person's, under `scope` over [start, end]."""
    spans = rollups.spans(start, end)
    per_node = (*rollups.CASE_FIGURES, *rollups.KPI)
    nodes = await sums(subtree(directory, scope), "", spans, "node", per_node)
    return Shared(nodes, await sums([""], "person", spans, "key", ("resolved", "checkins")))


async def read_period(
    sums: Sums,
    directory: Directory,
    scope: Scope,
    start: date,
    end: date,
    grid_kpis: bool = False,
    table: Sequence[str] | None = None,
    people: Sequence[str] | None = None,
    known: Shared | None = None,
) -> PeriodFigures:
    """The jurisdiction's counts over [start, end]: every figure for the whole, per node the table's
    figures (and the KPI counts when `grid_kpis`: the per-grid assessment rows). `table` and `people`
    narrow the per-node and per-person rows to those shown (None: the whole subtree, everyone);
    `known` gives rows already read for a wider jurisdiction (several bulletins of one month)."""
    spans = rollups.spans(start, end)
    days = [rollups.Span("d", start.isoformat(), end.isoformat())]
    mine = list(scope.nodes)
    per_node = (*rollups.CASE_FIGURES, *(rollups.KPI if grid_kpis else ()))
    created = await sums(mine, "", days, "period", ("created",))
    closed = await sums(mine, "closed", days, "period", ("closed_events",))
    return PeriodFigures(
        total=vector_total(await sums(mine, "", spans, "node")),
        nodes=_within(known.nodes, subtree(directory, scope))
        if known
        else await sums(table or subtree(directory, scope), "", spans, "node", per_node),
        types=await sums(mine, "type", spans, "key"),
        tiers=await sums(mine, "tier", spans, "key"),
        departments=await sums(mine, "department", spans, "key"),
        created_per_day={d: v.get("created", 0) for d, v in created.items()},
        closed_per_day={d: v.get("closed_events", 0) for d, v in closed.items()},
        people=known.people if known else await sums([""], "person", spans, "key", ("resolved", "checkins"), people),
        grid_kpis=grid_kpis,
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
        nodes: Sequence[str] | None,
        dim: str,
        spans: Sequence[rollups.Span],
        group: str,
        metrics: Sequence[str] = rollups.METRICS,
        keys: Sequence[str] | None = None,
    ) -> dict[str, rollups.Vector]:
        return rollups.sums(rows, nodes, dim, spans, group, metrics, keys)

    return sums
