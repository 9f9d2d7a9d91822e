"""The command-centre dashboard's figures, computed purely from tickets and timelines.

The definitions are the monthly bulletin's (escalation/bulletin.py), so the dashboard and the
bulletin never disagree: 办结率, 按时办结率, satisfaction (默认满意 counted apart). Overdue here is
the live view: an open case whose current deadline has passed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from escalation import planner
from escalation.bulletin import case_figures, ranked
from escalation.calendar import LOCAL, is_workday
from escalation.figures import PeriodFigures, Scope
from tickets import rollups
from tickets.directory import Directory, Role
from tickets.model import EventKind, Ticket, TicketEvent, TicketState, Tier
from tickets.ports import LiveCount

TIERS = (Tier.GRID, Tier.COMMUNITY, Tier.TOWNSHIP, Tier.DISTRICT, Tier.DEPARTMENT)


@dataclass(frozen=True)
class Period:
    start: date  # first local day
    end: date  # last local day, inclusive

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime(self.start.year, self.start.month, self.start.day, tzinfo=LOCAL)
        end = datetime(self.end.year, self.end.month, self.end.day, tzinfo=LOCAL) + timedelta(days=1)
        return start, end


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    due = planner.overdue_at(ticket)
    return due is not None and due <= now


def local_day(at: datetime) -> date:
    return at.astimezone(LOCAL).date()


def standing(open_tickets: Sequence[Ticket], now: datetime) -> dict[str, Any]:
    """Open and overdue cases right now, in all and by the tier that holds them."""
    opened = Counter(t.tier.value for t in open_tickets)
    late = Counter(t.tier.value for t in open_tickets if is_overdue(t, now))
    by_tier = {t.value: {"tier": t.value, "open": opened[t.value], "overdue": late[t.value]} for t in TIERS}
    return {
        "open": len(open_tickets),
        "overdue": sum(late.values()),
        "suspended": sum(t.state is TicketState.SUSPENDED for t in open_tickets),
        "by_tier": list(by_tier.values()),  # ladder order (a list: JSON objects lose their order)
    }


def trend(period: Period, tickets: Sequence[Ticket], events: Mapping[int, Sequence[TicketEvent]]) -> dict[str, Any]:
    """Cases created and closed per local day of the period."""
    created = Counter(local_day(t.created_at) for t in tickets)
    closed = Counter(
        local_day(e.at) for t in tickets if t.state is TicketState.CLOSED
        for e in events.get(t.id, ()) if e.kind is EventKind.CLOSED
    )  # fmt: skip
    days = period.days
    return {
        "days": [d.isoformat() for d in days],
        "created": [created.get(d, 0) for d in days],
        "closed": [closed.get(d, 0) for d in days],
    }


def by_type(tickets: Sequence[Ticket], name: Any) -> list[dict[str, Any]]:
    counts = Counter(t.type for t in tickets)
    return [{"type": k, "name": name(k), "count": n} for k, n in ranked(counts)]


def grid_table(
    directory: Directory,
    scope: Iterable[str] | None,
    tickets: Sequence[Ticket],
    events: Mapping[int, Sequence[TicketEvent]],
    open_tickets: Sequence[Ticket],
    now: datetime,
) -> list[dict[str, Any]]:
    """The grid tree (district → micro-grid) with each node's figures: a heat table.
    Only nodes with a micro-grid in `scope` (None: all) appear."""
    grids = set(scope) if scope is not None else {n.id for n in directory.nodes.values() if n.tier is Tier.GRID}
    under: dict[str, set[str]] = defaultdict(set)  # node → its micro-grids in scope
    for grid in grids:
        for node in directory.chain(grid):
            under[node.id].add(grid)
    by_grid: dict[str, list[Ticket]] = defaultdict(list)
    live_by_grid: dict[str, list[Ticket]] = defaultdict(list)
    for t in tickets:
        by_grid[t.grid].append(t)
    for t in open_tickets:
        live_by_grid[t.grid].append(t)
    rows = []
    for node_id, depth in tree_order(directory):
        mine = under.get(node_id)
        if not mine:
            continue
        cases = [t for g in mine for t in by_grid.get(g, ())]  # O(cases of the node), not O(all cases)
        live = [t for g in mine for t in live_by_grid.get(g, ())]
        f = case_figures(cases, events)
        rows.append({
            "id": node_id, "name": directory.nodes[node_id].name, "tier": directory.nodes[node_id].tier.value,
            "depth": depth, "created": f["created"], "closed": f["closed"], "completion_rate": f["completion_rate"],
            "on_time_rate": f["on_time_rate"], "mean_rating": f["satisfaction"]["mean"], "open": len(live),
            "overdue": sum(is_overdue(t, now) for t in live),
        })  # fmt: skip
    return rows


@lru_cache(maxsize=4)  # per directory object: a directory is replaced, never changed
def tree_order(directory: Directory) -> list[tuple[str, int]]:
    children: dict[str | None, list[str]] = defaultdict(list)
    for node in directory.nodes.values():
        children[node.parent].append(node.id)
    out: list[tuple[str, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for child in sorted(children.get(parent, [])):
            out.append((child, depth))
            walk(child, depth + 1)

    walk(None, 0)
    return out


def worker_activity(
    directory: Directory,
    scope: Iterable[str] | None,
    tickets: Sequence[Ticket],
    events: Mapping[int, Sequence[TicketEvent]],
    open_tickets: Sequence[Ticket],
    checkins: Iterable[tuple[str, str]],
    workdays: int,
) -> list[dict[str, Any]]:
    """Per grid worker: cases in hand now, cases they resolved in the period, 报平安 on workdays."""
    grids = set(scope) if scope is not None else None
    done = Counter(person for person, day in checkins if is_workday(date.fromisoformat(day)))
    resolved = Counter(e.actor for t in tickets for e in events.get(t.id, ()) if e.kind is EventKind.RESOLVED)
    in_hand = Counter(t.assignee for t in open_tickets if t.assignee)
    rows = []
    for p in sorted(directory.people.values(), key=lambda p: (p.node or "", p.id)):
        if p.role is not Role.WORKER or (grids is not None and p.node not in grids):
            continue
        grid = directory.nodes.get(p.node or "")
        rows.append({"id": p.id, "name": p.name, "grid": grid.name if grid else "", "grid_id": p.node,
                     "in_hand": in_hand.get(p.id, 0), "resolved": resolved.get(p.id, 0),
                     "checkins": done.get(p.id, 0), "workdays": workdays,
                     "checkin_rate": round(done.get(p.id, 0) / workdays, 4) if workdays else None})  # fmt: skip
    return rows


def summary(tickets: Sequence[Ticket], events: Mapping[int, Sequence[TicketEvent]]) -> dict[str, Any]:
    return case_figures(tickets, events)


# The same figures from the rollups (escalation.figures); the functions above stay the definitions'
# reference (tests/unit/test_rollups.py compares both).

HEAT_ROWS = 400  # the heat table's rows at most: deeper levels open from a node (`?node=`)
WORKER_ROWS = 100  # the worker table's rows at most: those with most cases in hand first


def live_standing(live: Sequence[LiveCount]) -> dict[str, Any]:
    opened: Counter[str] = Counter()
    late: Counter[str] = Counter()
    for row in live:
        opened[row.tier] += row.count
        late[row.tier] += row.overdue
    by_tier = [{"tier": t.value, "open": opened[t.value], "overdue": late[t.value]} for t in TIERS]
    suspended = sum(r.count for r in live if r.state == TicketState.SUSPENDED.value)
    return {"open": sum(opened.values()), "overdue": sum(late.values()), "suspended": suspended, "by_tier": by_tier}


def rollup_trend(period: Period, f: PeriodFigures) -> dict[str, Any]:
    days = [d.isoformat() for d in period.days]
    return {"days": days, "created": [f.created_per_day.get(d, 0) for d in days],
            "closed": [f.closed_per_day.get(d, 0) for d in days]}  # fmt: skip


def rollup_types(f: PeriodFigures, name: Any) -> list[dict[str, Any]]:
    counts = {k: v.get("created", 0) for k, v in f.types.items() if v.get("created")}
    return [{"type": k, "name": name(k), "count": n} for k, n in ranked(counts)]


@dataclass(frozen=True)
class HeatOrder:
    """Which nodes the heat table shows, in tree order with their depth, and whether levels were cut.
    Structural only, so the figures are read for these nodes alone."""

    rows: list[tuple[str, int]]
    cut: bool

    @property
    def nodes(self) -> list[str]:
        return [n for n, _ in self.rows]


def heat_order(
    directory: Directory, scope: Scope, focus: str | None = None, limit: int | None = HEAT_ROWS
) -> HeatOrder:
    """The jurisdiction's nodes in tree order (from `focus` down when given), cut at the depth that keeps
    it within `limit` rows (None: every node)."""
    shown = _in_scope(directory, scope)
    order = [(n, d) for n, d in tree_order(directory) if n in shown and _under(directory, n, focus)]
    cut = False
    while limit is not None and len(order) > limit and len({d for _, d in order}) > 1:
        deepest = max(d for _, d in order)
        order, cut = [(n, d) for n, d in order if d < deepest], True
    return HeatOrder(order, cut)


def heat_rows(
    directory: Directory,
    scope: Scope,
    f: PeriodFigures,
    live: Sequence[LiveCount],
    focus: str | None = None,
    limit: int | None = HEAT_ROWS,
    shape: HeatOrder | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """The heat table from the rollups (`heat_order`'s nodes, or `shape` when already worked out).
    Returns the rows and whether it was cut."""
    shape = shape or heat_order(directory, scope, focus, limit)
    order, cut = shape.rows, shape.cut
    open_at, late_at = _live_by_node(directory, live, shape.nodes)
    rows = []
    for node_id, depth in order:
        v = f.nodes.get(node_id, {})
        figures = rollups.case_figures(v)
        node = directory.nodes[node_id]
        rows.append({
            "id": node_id, "name": node.name, "tier": node.tier.value, "depth": depth, "created": figures["created"],
            "closed": figures["closed"], "completion_rate": figures["completion_rate"],
            "on_time_rate": figures["on_time_rate"], "mean_rating": figures["satisfaction"]["mean"],
            "open": open_at[node_id], "overdue": late_at[node_id],
        })  # fmt: skip
    return rows, cut


def _in_scope(directory: Directory, scope: Scope) -> set[str]:
    """Nodes with a grid of the jurisdiction under them, not above it."""
    if scope.grids is None:
        return set(directory.nodes)
    grids = scope.grids
    above = {a.id for n in scope.nodes if n in directory.nodes for a in directory.chain(n)[1:]}
    return {a.id for g in grids if g in directory.nodes for a in directory.chain(g)} - above


def _under(directory: Directory, node: str, focus: str | None) -> bool:
    return focus is None or any(a.id == focus for a in directory.chain(node))


def _live_by_node(
    directory: Directory, live: Sequence[LiveCount], nodes: Sequence[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Active and overdue cases now at and under each of `nodes` (the rows shown)."""
    by_grid: dict[str, int] = {}
    late_by_grid: dict[str, int] = {}
    for row in live:
        by_grid[row.grid] = by_grid.get(row.grid, 0) + row.count
        late_by_grid[row.grid] = late_by_grid.get(row.grid, 0) + row.overdue
    opened = {n: sum(by_grid.get(g, 0) for g in directory.under(n)) for n in nodes}
    late = {n: sum(late_by_grid.get(g, 0) for g in directory.under(n)) for n in nodes}
    return opened, late


def shown_workers(directory: Directory, scope: Scope, in_hand: Mapping[str, int]) -> tuple[list[str], int]:
    """The jurisdiction's grid workers the table shows (all, or the WORKER_ROWS with most cases in hand)
    and how many there are."""
    staff = [p.id for p in directory.people.values()
             if p.role is Role.WORKER and (scope.grids is None or p.node in scope.grids)]  # fmt: skip
    if len(staff) <= WORKER_ROWS:
        return staff, len(staff)
    return sorted(staff, key=lambda p: (-in_hand.get(p, 0), p))[:WORKER_ROWS], len(staff)


def rollup_workers(
    directory: Directory, scope: Scope, f: PeriodFigures, in_hand: Mapping[str, int], workdays: int
) -> tuple[list[dict[str, Any]], int]:
    """Per grid worker shown (`shown_workers`): in hand now, resolved (cases of the period), 报平安 on
    workdays. Returns the rows and how many workers the jurisdiction has."""
    shown, total = shown_workers(directory, scope, in_hand)
    rows: list[dict[str, Any]] = []
    for p in (directory.people[i] for i in shown):
        grid = directory.nodes.get(p.node or "")
        done = f.people.get(p.id, {})
        rows.append({"id": p.id, "name": p.name, "grid": grid.name if grid else "", "grid_id": p.node,
                     "in_hand": in_hand.get(p.id, 0), "resolved": done.get("resolved", 0),
                     "checkins": done.get("checkins", 0), "workdays": workdays,
                     "checkin_rate": round(done.get("checkins", 0) / workdays, 4) if workdays else None})  # fmt: skip
    rows.sort(key=lambda r: (r["grid_id"] or "", r["id"]))
    return rows, total
