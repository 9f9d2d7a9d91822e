"""Figures officials track, computed purely from tickets, their timelines and check-ins:
worker activity (报平安), the daily digest for township officers and the monthly bulletin (月度通报).

Definitions (written down because officials compare them across years):
- 办结率 completion rate = closed / (created − cancelled), over cases created in the period.
- 按时办结率 on-time rate = closed cases whose timeline has no overdue mark (`escalation.kpis.overdue`:
  a `system` escalation or a yellow card; a worker's 吹哨 is not lateness) / closed cases.
- The assessment figures (按期结案率, 结案率, 返工率, 推诿, 响应率, 解决率, 满意率 per department,
  tier and grid, and the ranking of departments) are `escalation.kpis`; the bulletin carries them.
- 红牌通报: every case of the period that got a red card (红牌督办).
- 满意度 satisfaction = mean of residents' ratings (1–5) and the share of ratings ≥ 4; cases closed
  as 默认满意 (no rating in time) are counted apart, never as ratings.
- 超时 overdue by tier = overdue escalations that reached each tier.
- 报平安 activity rate = check-ins / (workers × workdays) over the period.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from escalation.figures import PeriodFigures
from escalation.kpis import kpis, overdue
from tickets import rollups
from tickets.directory import Directory, Node, Role
from tickets.model import OPEN_STATES, CloseReason, EventKind, Ticket, TicketEvent, TicketState, Tier
from tickets.ports import LiveCount

SATISFIED_FROM = 4
_OPEN = frozenset(s.value for s in OPEN_STATES)


@dataclass(frozen=True)
class Activity:
    node: str
    name: str
    tier: str
    workers: int
    checkins: int
    workdays: int

    @property
    def rate(self) -> float | None:
        slots = self.workers * self.workdays
        return round(self.checkins / slots, 4) if slots else None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.node, "name": self.name, "tier": self.tier, "workers": self.workers,
                "checkins": self.checkins, "workdays": self.workdays, "rate": self.rate}  # fmt: skip


def activity(
    directory: Directory, checkins: Iterable[tuple[str, str]], workdays: Sequence[str], tiers: Sequence[Tier]
) -> list[Activity]:
    """Check-in activity per node of the given tiers (community, township …), over `workdays`."""
    days = set(workdays)
    return activity_of(directory, Counter(person for person, day in checkins if day in days), len(days), tiers)


def activity_of(directory: Directory, done: Mapping[str, int], workdays: int, tiers: Sequence[Tier]) -> list[Activity]:
    """Check-in activity per node of `tiers` from each worker's check-ins on the period's workdays."""
    out = []
    for node in directory.nodes.values():
        if node.tier not in tiers:
            continue
        workers = directory.workers_under(node.id)
        out.append(Activity(node.id, node.name, node.tier.value, len(workers),
                            sum(done.get(w, 0) for w in workers), workdays))  # fmt: skip
    return sorted(out, key=lambda a: (a.tier, a.node))


def missing_checkins(directory: Directory, checked_in: set[str]) -> list[str]:
    """Workers who have not checked in (for the reminder)."""
    return sorted(p.id for p in directory.people.values() if p.role is Role.WORKER and p.id not in checked_in)


def _workers_under(directory: Directory, node: Node) -> list[str]:
    return list(directory.workers_under(node.id))


def grids_under(directory: Directory, node_id: str) -> list[str]:
    return sorted(directory.grids_under(node_id))


def _overdue(events: Sequence[TicketEvent]) -> list[str]:
    return [str(e.detail.get("tier")) for e in events if e.kind is EventKind.ESCALATED and e.actor == "system"]


def case_figures(tickets: Sequence[Ticket], events: Mapping[int, Sequence[TicketEvent]]) -> dict[str, Any]:
    created = len(tickets)
    cancelled = sum(t.state is TicketState.CANCELLED for t in tickets)
    closed = [t for t in tickets if t.state is TicketState.CLOSED]
    on_time = [t for t in closed if not overdue(events.get(t.id, ()))]
    ratings = [r for t in tickets for r in t.ratings.values()]
    counted = created - cancelled
    return {
        "created": created,
        "cancelled": cancelled,
        "closed": len(closed),
        "open": sum(t.state in (TicketState.REPORTED, TicketState.ACCEPTED, TicketState.DRAFT) for t in tickets),
        "suspended": sum(t.state is TicketState.SUSPENDED for t in tickets),
        "completion_rate": round(len(closed) / counted, 4) if counted else None,
        "on_time_rate": round(len(on_time) / len(closed), 4) if closed else None,
        "satisfaction": {
            "ratings": len(ratings),
            "mean": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "satisfied_rate": round(sum(r >= SATISFIED_FROM for r in ratings) / len(ratings), 4) if ratings else None,
            "default_satisfied": sum(t.close_reason is CloseReason.DEFAULT_SATISFIED for t in tickets),
        },
    }


def monthly(
    period: str,
    scope: Node,
    directory: Directory,
    tickets: Sequence[Ticket],
    events: Mapping[int, Sequence[TicketEvent]],
    checkins: Iterable[tuple[str, str]],
    workdays: Sequence[str],
) -> dict[str, Any]:
    """The monthly bulletin of `scope` (the district, or a township) for `period` (YYYY-MM)."""
    grid_ids = set(grids_under(directory, scope.id))
    mine = [t for t in tickets if t.grid in grid_ids]
    overdue = Counter(tier for t in mine for tier in _overdue(events.get(t.id, ())))
    whistles = sum(
        1 for t in mine for e in events.get(t.id, ()) if e.kind is EventKind.ESCALATED and e.actor != "system"
    )
    per_grid = []
    for grid in sorted(grid_ids):
        cases = [t for t in mine if t.grid == grid]
        figures = case_figures(cases, events)
        per_grid.append({"id": grid, "name": directory.nodes[grid].name, "created": figures["created"],
                         "closed": figures["closed"], "completion_rate": figures["completion_rate"],
                         "overdue": sum(len(_overdue(events.get(t.id, ()))) > 0 for t in cases),
                         "mean_rating": figures["satisfaction"]["mean"]})  # fmt: skip
    tiers = [Tier.COMMUNITY, Tier.TOWNSHIP] if scope.tier is Tier.DISTRICT else [Tier.COMMUNITY]
    under = _nodes_under(directory, scope)
    acts = [a for a in activity(directory, checkins, workdays, tiers) if a.node in under]
    staff, days = set(_workers_under(directory, scope)), set(workdays)
    workers = len(staff)
    done = sum(1 for person, day in checkins if day in days and person in staff)
    return {
        "kind": "monthly",
        "period": period,
        "scope": {"id": scope.id, "name": scope.name, "tier": scope.tier.value},
        **case_figures(mine, events),
        "overdue_by_tier": {tier.value: overdue.get(tier.value, 0) for tier in Tier if tier is not Tier.GRID},
        "whistles": whistles,
        "top_types": ranked(Counter(t.type for t in mine))[:5],
        "grids": per_grid,
        "kpis": kpis(mine, events).to_json(namer(directory)),
        "red_cards": red_cards(mine, events, directory),
        "worker_activity": {
            "workers": workers,
            "workdays": len(workdays),
            "rate": round(done / (workers * len(workdays)), 4) if workers and workdays else None,
            "by_node": [a.to_json() for a in acts],
        },
    }


def monthly_of(
    period: str, scope: Node, directory: Directory, f: PeriodFigures, carded: Sequence[Ticket], workdays: Sequence[str]
) -> dict[str, Any]:
    """`monthly` from the rollups: `f` read for `scope` over the month, `carded` its cases with a red card."""
    grid_ids = sorted(grids_under(directory, scope.id))
    per_grid = []
    for grid in grid_ids:
        v = f.nodes.get(grid, {})
        figures = rollups.case_figures(v)
        per_grid.append({"id": grid, "name": directory.nodes[grid].name, "created": figures["created"],
                         "closed": figures["closed"], "completion_rate": figures["completion_rate"],
                         "overdue": v.get("overdue_cases", 0),
                         "mean_rating": figures["satisfaction"]["mean"]})  # fmt: skip
    tiers = [Tier.COMMUNITY, Tier.TOWNSHIP] if scope.tier is Tier.DISTRICT else [Tier.COMMUNITY]
    under = _nodes_under(directory, scope)
    done = {person: v.get("checkins", 0) for person, v in f.people.items()}
    acts = [a for a in activity_of(directory, done, len(workdays), tiers) if a.node in under]
    staff = set(_workers_under(directory, scope))
    workers, checked = len(staff), sum(n for person, n in done.items() if person in staff)
    types = {k: v.get("created", 0) for k, v in f.types.items() if v.get("created")}
    return {
        "kind": "monthly",
        "period": period,
        "scope": {"id": scope.id, "name": scope.name, "tier": scope.tier.value},
        **rollups.case_figures(f.total),
        "overdue_by_tier": rollups.overdue_by_tier(f.total),
        "whistles": f.total.get("whistles", 0),
        "top_types": ranked(types)[:5],
        "grids": per_grid,
        "kpis": f.kpis(directory).to_json(namer(directory)),
        "red_cards": red_card_rows(carded, directory),
        "worker_activity": {
            "workers": workers,
            "workdays": len(workdays),
            "rate": round(checked / (workers * len(workdays)), 4) if workers and workdays else None,
            "by_node": [a.to_json() for a in acts],
        },
    }


def ranked(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Most first, ties by key (one order whatever the source)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def namer(directory: Directory) -> Any:
    """Display names for the KPI tables: departments and nodes by name, tiers by key (rendered later)."""
    departments = {d.id: d.name for d in directory.departments}

    def name(group: str, key: str) -> str:
        if group == "department":
            return departments.get(key, key)
        if group == "grid":
            node = directory.nodes.get(key)
            return node.name if node else key
        return key

    return name


def red_cards(
    tickets: Sequence[Ticket], events: Mapping[int, Sequence[TicketEvent]], directory: Directory
) -> list[dict[str, Any]]:
    """红牌通报: the period's cases that got a red card, with who held them."""
    return red_card_rows([t for t in tickets if any(e.kind is EventKind.RED_CARD for e in events.get(t.id, ()))],
                         directory)  # fmt: skip


def red_card_rows(carded: Sequence[Ticket], directory: Directory) -> list[dict[str, Any]]:
    name = namer(directory)
    out = []
    for t in carded:
        holder = name("department", t.department) if t.department else name("grid", t.grid)
        out.append({"ticket_id": t.id, "type": t.type, "grid": t.grid, "holder": holder, "state": t.state.value})
    return out


def _nodes_under(directory: Directory, scope: Node) -> set[str]:
    return set(directory.under(scope.id))


def digest(
    township: Node, directory: Directory, new: Mapping[str, int], closed: Mapping[str, int], live: Sequence[LiveCount]
) -> dict[str, Any]:
    """The daily digest of one township: cases new and closed in the last day (per grid), open cases
    (reported or taken) and those overdue now by the tier holding them, the grids with most overdue."""
    grids = set(grids_under(directory, township.id))
    mine = [r for r in live if r.grid in grids and r.state in _OPEN]
    late_by_tier: Counter[str] = Counter()
    late_by_grid: Counter[str] = Counter()
    for r in mine:
        late_by_tier[r.tier] += r.overdue
        late_by_grid[r.grid] += r.overdue
    return {
        "kind": "daily",
        "scope": {"id": township.id, "name": township.name},
        "new": sum(n for g, n in new.items() if g in grids),
        "closed": sum(n for g, n in closed.items() if g in grids),
        "open": sum(r.count for r in mine),
        "overdue_by_tier": {t: n for t, n in late_by_tier.items() if n},
        "worst_grids": [
            {"id": g, "name": directory.nodes[g].name, "overdue": n} for g, n in ranked(late_by_grid)[:3] if n
        ],
    }


def pct(value: object) -> str:
    return f"{float(value) * 100:.1f}%" if isinstance(value, int | float) else "—"


def render_monthly(body: Mapping[str, Any], name: Any) -> str:
    """The bulletin as officials read it (plain text, Chinese). `name(group, key)` gives display names."""
    sat = body["satisfaction"]
    act = body["worker_activity"]
    lines = [
        f"{body['scope']['name']} {body['period']} 月度通报",
        "",
        f"受理 {body['created']} 件，办结 {body['closed']} 件，撤销 {body['cancelled']} 件，在办 {body['open']} 件，"
        f"挂账 {body['suspended']} 件。",
        f"办结率 {pct(body['completion_rate'])}，按时办结率 {pct(body['on_time_rate'])}。",
        f"群众评价 {sat['ratings']} 次，平均 {sat['mean'] if sat['mean'] is not None else '—'} 分，"
        f"满意率 {pct(sat['satisfied_rate'])}；默认满意 {sat['default_satisfied']} 件（未评价，单列）。",
        "超时上报："
        + "，".join(f"{name('tier', t)} {n} 次" for t, n in body["overdue_by_tier"].items())
        + f"；吹哨 {body['whistles']} 次。",
        "事项类型前五：" + ("，".join(f"{name('type', t)} {n} 件" for t, n in body["top_types"]) or "无"),
        f"网格员报平安率 {pct(act['rate'])}（{act['workers']} 名网格员，{act['workdays']} 个工作日）。",
        "",
        "各网格：",
    ]
    for g in body["grids"]:
        mean = g["mean_rating"] if g["mean_rating"] is not None else "—"
        lines.append(
            f"- {g['name']}：受理 {g['created']}，办结 {g['closed']}，办结率 {pct(g['completion_rate'])}，"
            f"超时 {g['overdue']}，平均评分 {mean}"
        )
    lines += ["", "报平安："]
    lines += [f"- {a['name']}：{pct(a['rate'])}" for a in act["by_node"]]
    lines += _render_assessment(body, name)
    return "\n".join(lines)


def _render_assessment(body: Mapping[str, Any], name: Any) -> list[str]:
    """The departments' ranking and the 红牌 list (bulletins made before these existed have neither)."""
    lines: list[str] = []
    ranking = (body.get("kpis") or {}).get("ranking") or []
    if ranking:
        lines += ["", "职能部门考核排名（按期结案率、满意率、推诿）："]
        lines += [f"{r['rank']}. {r['name']}：按期结案率 {pct(r['on_time_rate'])}，结案率 {pct(r['closure_rate'])}，"
                  f"返工率 {pct(r['rework_rate'])}，推诿 {r['returns']} 次，满意率 {pct(r['satisfaction_rate'])}"
                  for r in ranking]  # fmt: skip
    cards = body.get("red_cards") or []
    if cards:
        lines += ["", "红牌督办通报："]
        lines += [f"- 工单 #{c['ticket_id']}（{name('type', c['type'])}）承办：{c['holder']}" for c in cards]
    return lines


def render_digest(body: Mapping[str, Any], name: Any) -> str:
    overdue = "，".join(f"{name('tier', t)} {n}" for t, n in body["overdue_by_tier"].items()) or "无"
    worst = "，".join(f"{g['name']}（{g['overdue']}）" for g in body["worst_grids"]) or "无"
    return (f"新增 {body['new']} 件，办结 {body['closed']} 件，在办 {body['open']} 件；"
            f"超时在办：{overdue}；超时最多的网格：{worst}")  # fmt: skip
