"""The rollups against the pure definitions, on randomised histories (issue 19).

Every case gets a random state, tier, department, ratings, close reason and a random timeline (kinds,
actors, tiers, phases, days); the rollup rows are built the way the live path builds them (one change
at a time, each moving the rows by its delta) and read back through `escalation.figures`, and every
figure must equal what `escalation.bulletin`, `escalation.kpis` and `admin.dashboard` compute from the
cases themselves.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from admin import dashboard
from escalation import bulletin, figures
from escalation.calendar import is_workday
from escalation.kpis import kpis
from tests.unit.factories import directory, new_ticket
from tickets import rollups
from tickets.directory import Directory, Node
from tickets.model import CloseReason, Dispatch, EventKind, Ticket, TicketEvent, TicketState, Tier

START = datetime(2026, 1, 1, tzinfo=UTC)
KINDS = list(EventKind)
ACTORS = ["system", "w1", "w2", "oc", "dp", "张阿姨"]
GRIDS = ["g1", "g2", "g3", "gx"]  # gx: not in the directory


def _directory() -> Directory:
    base = directory()
    nodes = [
        *base.nodes.values(),
        Node("c2", "和平社区", Tier.COMMUNITY, "t"),
        Node("g3", "第3网格", Tier.GRID, "c2", "chat-3"),
    ]
    return Directory(nodes=nodes, people=list(base.people.values()), departments=list(base.departments))


def _event(rng: random.Random, at: datetime) -> TicketEvent:
    kind = rng.choice(KINDS)
    detail = {
        "tier": rng.choice(["community", "township", "district", "department"]),
        "phase": rng.choice(["accept", "resolve", "sign"]),
        "department": rng.choice(["cg", "sw", ""]),
    }
    return TicketEvent(kind, rng.choice(ACTORS), at, detail)


def _case(rng: random.Random, i: int) -> tuple[Ticket, list[TicketEvent]]:
    created = START + timedelta(days=rng.randrange(120), hours=rng.randrange(24), minutes=rng.randrange(60))
    state = rng.choice(list(TicketState))
    dispatch = Dispatch(rng.choice(["cg", "sw"]), "ot", Tier.TOWNSHIP, created) if rng.random() < 0.4 else None
    ratings = {f"r{k}": rng.randint(1, 5) for k in range(rng.choice([0, 0, 1, 2]))}
    ticket = replace(
        new_ticket(now=created), id=i, state=state, grid=rng.choice(GRIDS), type=rng.choice(["a", "b", "c"]),
        tier=rng.choice(list(Tier)), dispatch=dispatch, ratings=ratings,
        close_reason=rng.choice([None, *CloseReason]), reopens=rng.choice([0, 0, 1]),
    )  # fmt: skip
    events = [_event(rng, created + timedelta(hours=rng.randrange(24 * 40))) for _ in range(rng.randrange(12))]
    return ticket, sorted(events, key=lambda e: e.at)


def _history(seed: int, n: int = 300) -> list[tuple[Ticket, list[TicketEvent]]]:
    rng = random.Random(seed)
    return [_case(rng, i) for i in range(1, n + 1)]


class Rows:
    """The rollup table as the live path moves it: one held contribution per case, deltas added."""

    def __init__(self, d: Directory) -> None:
        self.rows: dict[rollups.Key, rollups.Vector] = defaultdict(dict)
        self.held: dict[int, figures.Held] = {}
        self.d = d

    def change(self, ticket: Ticket, events: list[TicketEvent]) -> None:
        held = self.held.get(ticket.id)
        now = figures._held(ticket, held.facts if held else rollups.Facts(), events, self.d)
        old = figures._rows(held) if held else {}
        for key, moved in rollups.delta(old, figures._rows(now)).items():
            self.rows[key] = rollups.add(self.rows[key], moved)
        self.held[ticket.id] = now

    async def sums(self, nodes, dim, spans, group, metrics=rollups.METRICS, keys=None):  # type: ignore[no-untyped-def]
        return rollups.sums(self.rows, nodes, dim, spans, group, metrics, keys)


def _live(d: Directory, history: list[tuple[Ticket, list[TicketEvent]]]) -> Rows:
    """Each case arrives as a report, then changes a few times (its timeline in slices, its state last)."""
    rows = Rows(d)
    for ticket, events in history:
        first = replace(ticket, state=TicketState.REPORTED, ratings={}, close_reason=None, reopens=0, dispatch=None)
        rows.change(first, events[:1])
        cut = max(1, len(events) // 2)
        rows.change(replace(first, tier=Tier.COMMUNITY), events[1:cut])
        rows.change(ticket, events[cut:])
    return rows


def _created_in(history, start: date, end: date):  # type: ignore[no-untyped-def]
    return [(t, e) for t, e in history if start <= dashboard.local_day(t.created_at) <= end]


PERIODS = [
    (date(2026, 1, 1), date(2026, 4, 30)),
    (date(2026, 1, 17), date(2026, 3, 9)),
    (date(2026, 2, 3), date(2026, 2, 3)),
    (date(2026, 2, 1), date(2026, 2, 28)),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("period", PERIODS)
async def test_the_rollups_give_the_pure_figures(seed: int, period: tuple[date, date]) -> None:
    d = _directory()
    history = _history(seed)
    rows = _live(d, history)
    start, end = period
    for grids, nodes in (
        (None, ("*",)),
        (frozenset({"g1", "g2", "g3"}), ("d",)),
        (frozenset({"g3"}), ("c2",)),
        (frozenset({"g1", "g2"}), ("c",)),
    ):
        scope = figures.scope_of(d, grids)
        assert scope.nodes == nodes and scope.whole
        f = await figures.read_period(rows.sums, d, scope, start, end, grid_kpis=True)
        mine = [(t, e) for t, e in _created_in(history, start, end) if grids is None or t.grid in grids]
        tickets, events = [t for t, _ in mine], {t.id: e for t, e in mine}
        assert rollups.case_figures(f.total) == bulletin.case_figures(tickets, events)
        assert f.kpis(d).to_json() == kpis(tickets, events).to_json()
        assert dashboard.rollup_types(f, str) == dashboard.by_type(tickets, str)
        subtree = figures.subtree(d, scope)
        for node in subtree if subtree is not None else [*d.nodes, "gx"]:
            under = [t for t in tickets if node in figures.chain(d, t.grid)]
            assert rollups.case_figures(f.nodes.get(node, {})) == bulletin.case_figures(under, events), node
        everything = [t for t, _ in history if grids is None or t.grid in grids]
        all_events = {t.id: e for t, e in history}
        p = dashboard.Period(start, end)
        assert dashboard.rollup_trend(p, f)["closed"] == dashboard.trend(p, everything, all_events)["closed"]
        assert dashboard.rollup_trend(p, f)["created"] == dashboard.trend(p, tickets, events)["created"]


@pytest.mark.parametrize("seed", [4, 5])
async def test_the_bulletin_from_the_rollups_is_the_pure_bulletin(seed: int) -> None:
    d = _directory()
    history = _history(seed)
    rows = _live(d, history)
    checkins = [(w, f"2026-02-{day:02d}") for w in ("w1", "w2") for day in range(1, 29, 2)]
    for person, day in [(w, day) for w, day in checkins if is_workday(date.fromisoformat(day))]:  # as the keeper
        for key, vector in rollups.checked_in(person, day).items():
            rows.rows[key] = rollups.add(rows.rows[key], vector)
    start, end, workdays = dashboard_month("2026-02")
    mine = _created_in(history, start, end)
    tickets, events = [t for t, _ in mine], {t.id: e for t, e in mine}
    known = await figures.read_shared(rows.sums, d, figures.scope_of(d, None), start, end)
    for scope_id, shared in (("d", None), ("t", None), ("c2", known), ("t", known)):
        scope = d.nodes[scope_id]
        expected = bulletin.monthly("2026-02", scope, d, tickets, events, checkins, workdays)
        whole = figures.Scope((scope_id,), None, True)
        f = await figures.read_period(rows.sums, d, whole, start, end, grid_kpis=True, known=shared)
        grids = set(bulletin.grids_under(d, scope_id))
        carded = [t for t in tickets if t.grid in grids and any(e.kind is EventKind.RED_CARD for e in events[t.id])]
        assert bulletin.monthly_of("2026-02", scope, d, f, carded, workdays) == expected


def dashboard_month(period: str) -> tuple[date, date, list[str]]:
    from escalation.routines import month_bounds

    start, end, workdays = month_bounds(period)
    return dashboard.local_day(start), dashboard.local_day(end) - timedelta(days=1), workdays


@pytest.mark.parametrize("seed", [6, 7])
def test_changes_one_by_one_leave_what_a_rebuild_gives(seed: int) -> None:
    d = _directory()
    history = _history(seed, 150)
    live = _live(d, history).rows
    rebuilt: dict[rollups.Key, rollups.Vector] = defaultdict(dict)
    for ticket, events in history:
        for key, vector in figures._rows(figures._held(ticket, rollups.Facts(), events, d)).items():
            rebuilt[key] = rollups.add(rebuilt[key], vector)
    nonzero = {k: {m: n for m, n in v.items() if n} for k, v in live.items()}
    assert {k: v for k, v in nonzero.items() if v} == {k: v for k, v in rebuilt.items() if v}


def test_spans_cover_each_day_once() -> None:
    day = date(2025, 12, 1)
    for length in (1, 5, 31, 45, 90, 365, 366):
        for offset in range(0, 40, 7):
            start = day + timedelta(days=offset)
            end = start + timedelta(days=length - 1)
            covered = []
            for s in rollups.spans(start, end):
                first, last = date.fromisoformat(s.first), date.fromisoformat(s.last)
                if s.grain == "d":
                    covered += [first + timedelta(days=i) for i in range((last - first).days + 1)]
                else:
                    m = first
                    while m <= last:
                        nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
                        covered += [m + timedelta(days=i) for i in range((nxt - m).days)]
                        m = nxt
            assert covered == [start + timedelta(days=i) for i in range(length)]


def test_a_grid_jurisdiction_is_not_whole_and_unknown_grids_stay_loose() -> None:
    d = _directory()
    assert figures.scope_of(d, {"g1"}) == figures.Scope(("g1",), frozenset({"g1"}), False)
    assert figures.scope_of(d, {"g1", "g2", "gx"}).nodes == ("c", "gx")
    assert figures.scope_of(d, set()).nodes == ()


def test_facts_survive_their_json() -> None:
    for ticket, events in _history(8, 200):
        facts = rollups.fold(rollups.Facts(), events)
        assert rollups.Facts.from_json(facts.to_json()) == facts
        snapshot = rollups.Snapshot.of(ticket)
        assert rollups.Snapshot.from_json(snapshot.to_json()) == snapshot


async def test_the_heat_table_is_cut_at_a_whole_level_and_opens_from_a_node() -> None:
    d = _directory()
    rows = _live(d, _history(9, 60))
    scope = figures.scope_of(d, None)
    f = await figures.read_period(rows.sums, d, scope, date(2026, 1, 1), date(2026, 6, 30))
    full, cut = dashboard.heat_rows(d, scope, f, [], None, limit=None)
    assert not cut and [r["id"] for r in full] == ["d", "t", "c", "g1", "g2", "c2", "g3"]
    shown, cut = dashboard.heat_rows(d, scope, f, [], None, limit=4)
    assert cut and [r["id"] for r in shown] == ["d", "t", "c", "c2"]  # the grids' level left out whole
    opened, cut = dashboard.heat_rows(d, scope, f, [], "c", limit=4)
    assert not cut and [r["id"] for r in opened] == ["c", "g1", "g2"]
    officer = figures.scope_of(d, {"g3"})
    mine, _ = dashboard.heat_rows(d, officer, f, [], "c", limit=None)
    assert mine == []  # a node outside the jurisdiction opens nothing
