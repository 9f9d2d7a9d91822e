"""Figures kept as rollups: what one case adds to the counts, per local day × node × dimension.

The dashboard, the grid table, the KPIs and the monthly bulletin read sums of these rows instead of
recomputing every case of the period. Each case contributes one vector of counts (`METRICS`) to
the local day it was created (the cohort the bulletin's definitions count over), plus the days it
was closed (the trend) and, per person, what they resolved. The vector is split by dimension: ''
(everything), `type`, `tier`, `department` (and the departments that returned it). Every row is
kept for each node of the grid's chain up to the root `*` and at two grains, the day and the month,
so a period reads whole months from month rows and the ragged ends from day rows.

A case change moves the rollups by `delta(old, new)`; the history-dependent parts of the vector
come from `Facts`, a fold over the case's timeline kept beside it, so a change needs only its new
events. `tests/unit/test_rollups.py` proves the sums equal `escalation.bulletin.case_figures` and
`escalation.kpis.kpis` (the pure definitions) on randomised histories.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from tickets.model import LOCAL, CloseReason, EventKind, Ticket, TicketEvent, TicketState, Tier

ROOT = "*"  # every case rolls up to this node: the whole platform
SATISFIED_FROM = 4
ESCALATION_TIERS = ("community", "township", "district", "department")
BULLETIN = (
    "created", "cancelled", "closed", "closed_on_time", "open", "suspended", "ratings", "rating_sum",
    "rated_1", "rated_2", "rated_3", "rated_4", "rated_5", "default_satisfied", "reopened", "overdue_cases",
    *(f"esc_{t}" for t in ESCALATION_TIERS), "whistles",
)  # fmt: skip
KPI = (
    "k_due", "k_deferred", "k_closed", "k_closed_on_time", "k_resolutions", "k_failed_verifications",
    "k_returns", "k_responded", "k_verdicts", "k_solved", "k_ratings", "k_satisfied", "k_yellow_cards",
    "k_red_cards",
)  # fmt: skip
METRICS: tuple[str, ...] = (*BULLETIN, *KPI, "closed_events", "resolved", "checkins")
CASE_FIGURES = (
    "created",
    "cancelled",
    "closed",
    "closed_on_time",
    "open",
    "suspended",
    "ratings",
    "rating_sum",
    "rated_4",
    "rated_5",
    "default_satisfied",
    "overdue_cases",
)  # what a node's row in a table needs
DIMENSIONS = ("", "type", "tier", "department", "closed", "person")
NODELESS = frozenset({"person"})  # rows kept once (node ''), not per node of the chain
# Dimensions other than '' are kept for the nodes above the grid (a micro-grid's own cases are few:
# a jurisdiction of single grids is computed from its cases, `escalation.figures`).
GRAINS = ("d", "m")
_VERDICTS = frozenset({EventKind.CONFIRMED, EventKind.RATED, EventKind.REOPENED})
_RESPONSES = frozenset({EventKind.ACCEPTED, EventKind.REPORTED_IN, EventKind.SIGNED})
_OPEN = frozenset({TicketState.REPORTED, TicketState.ACCEPTED, TicketState.DRAFT})

Vector = dict[str, int]
Part = tuple[str, str, str]  # (local day, dimension, key)
Key = tuple[str, str, str, str, str]  # (grain, period, node, dimension, key)


def local_day(at: datetime) -> str:
    return at.astimezone(LOCAL).date().isoformat()


@dataclass(frozen=True)
class Facts:
    """What the figures need from a case's timeline, folded event by event (JSON-safe)."""

    system_escalations: Mapping[str, int] = field(default_factory=dict)  # tier → overdue climbs to it
    whistles: int = 0  # 吹哨: escalations by a person
    yellow_cards: int = 0
    red_cards: int = 0
    deferred: bool = False  # 挂账 approved or an extension approved
    responded: bool | None = None  # taken in time (True), late (False), undecided (None)
    verdict: str | None = None  # the resident's last verdict (confirmed, rated, reopened)
    resolutions: int = 0
    failed_verifications: int = 0
    returns: Mapping[str, int] = field(default_factory=dict)  # department → 退单 it made
    resolvers: Mapping[str, int] = field(default_factory=dict)  # person → 已处理 they reported
    closed_days: tuple[str, ...] = ()  # local days of each close

    @property
    def overdue(self) -> bool:
        """`escalation.kpis.overdue`: the ladder climbed on its own, or a yellow card was given."""
        return bool(self.system_escalations) or self.yellow_cards > 0

    def to_json(self) -> dict[str, Any]:
        """The fields that differ from their defaults (most cases have few facts)."""
        out = {k: v for k, v in vars(self).items() if v != _FACT_DEFAULTS[k]}
        return {k: (list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v)
                for k, v in out.items()}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Facts:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "closed_days" in known:
            known["closed_days"] = tuple(known["closed_days"])
        return cls(**known)


_FACT_DEFAULTS = vars(Facts())


def fold(facts: Facts, events: Iterable[TicketEvent]) -> Facts:
    for e in events:
        facts = _step(facts, e)
    return facts


def _step(f: Facts, e: TicketEvent) -> Facts:
    kind = EventKind(e.kind)  # a kind read back as text is the same kind
    if kind is EventKind.ESCALATED:
        if e.actor != "system":
            return replace(f, whistles=f.whistles + 1)
        responded = False if f.responded is None and e.detail.get("phase") == "accept" else f.responded
        return replace(
            f, system_escalations=_bump(f.system_escalations, str(e.detail.get("tier"))), responded=responded
        )
    if kind is EventKind.SIGN_OVERDUE:
        return replace(f, responded=False if f.responded is None else f.responded)
    if kind in _RESPONSES:
        f = replace(f, responded=True if f.responded is None else f.responded)
    if kind in _VERDICTS:
        f = replace(f, verdict=kind.value)
    if kind is EventKind.YELLOW_CARD:
        return replace(f, yellow_cards=f.yellow_cards + 1)
    if kind is EventKind.RED_CARD:
        return replace(f, red_cards=f.red_cards + 1)
    if kind in (EventKind.SUSPENDED, EventKind.EXTENSION_APPROVED):
        return replace(f, deferred=True)
    if kind is EventKind.RESOLVED:
        return replace(f, resolutions=f.resolutions + 1, resolvers=_bump(f.resolvers, e.actor))
    if kind is EventKind.VERIFICATION_FAILED:
        return replace(f, failed_verifications=f.failed_verifications + 1)
    if kind is EventKind.RETURNED:
        return replace(f, returns=_bump(f.returns, str(e.detail.get("department", ""))))
    if kind is EventKind.CLOSED:
        return replace(f, closed_days=(*f.closed_days, local_day(e.at)))
    return f


def _bump(counts: Mapping[str, int], key: str) -> dict[str, int]:
    return {**counts, key: counts.get(key, 0) + 1}


@dataclass(frozen=True)
class Snapshot:
    """The case fields the figures read, kept with its facts (what the rollups hold for it now)."""

    day: str
    grid: str
    type: str
    tier: str
    department: str | None
    state: str
    ratings: tuple[int, ...]
    close_reason: str | None
    reopens: int

    @classmethod
    def of(cls, t: Ticket) -> Snapshot:
        return cls(local_day(t.created_at), t.grid, t.type, t.tier.value, t.department, t.state.value,
                   tuple(t.ratings.values()), t.close_reason.value if t.close_reason else None, t.reopens)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {**vars(self), "ratings": list(self.ratings)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        return cls(**{**data, "ratings": tuple(data.get("ratings", ()))})


def contribution(s: Snapshot, f: Facts) -> dict[Part, Vector]:
    """What one case adds to the rollups, by (local day, dimension, key)."""
    vector = _vector(s, f)
    out: dict[Part, Vector] = {
        (s.day, "", ""): vector,
        (s.day, "type", s.type): vector,
        (s.day, "tier", s.tier): vector,
    }
    if s.department:
        out[(s.day, "department", s.department)] = vector
    for department, n in f.returns.items():
        part = (s.day, "department", department)
        out[part] = add(out.get(part, {}), {"k_returns": n})
    if s.state == TicketState.CLOSED.value:
        for day in f.closed_days:
            part = (day, "closed", "")
            out[part] = add(out.get(part, {}), {"closed_events": 1})
    for person, n in f.resolvers.items():
        out[(s.day, "person", person)] = {"resolved": n}
    return out


def _vector(s: Snapshot, f: Facts) -> Vector:
    state = TicketState(s.state)
    closed = state is TicketState.CLOSED
    cancelled = state is TicketState.CANCELLED
    rated = Counter(s.ratings)
    v: Vector = {
        "created": 1, "cancelled": int(cancelled), "closed": int(closed),
        "closed_on_time": int(closed and not f.overdue), "open": int(state in _OPEN),
        "suspended": int(state is TicketState.SUSPENDED), "ratings": len(s.ratings), "rating_sum": sum(s.ratings),
        **{f"rated_{n}": rated.get(n, 0) for n in range(1, 6)},
        "default_satisfied": int(s.close_reason == CloseReason.DEFAULT_SATISFIED.value), "reopened": s.reopens,
        "overdue_cases": int(bool(f.system_escalations)), "whistles": f.whistles,
        **{f"esc_{t}": f.system_escalations.get(t, 0) for t in ESCALATION_TIERS},
    }  # fmt: skip
    return {k: n for k, n in {**v, **({} if cancelled else _kpi(s, f, closed))}.items() if n}


def _kpi(s: Snapshot, f: Facts, closed: bool) -> Vector:
    """`escalation.kpis.case_counts` from the folded facts (a cancelled case adds nothing)."""
    deferred = s.state == TicketState.SUSPENDED.value or f.deferred
    verdict = f.verdict is not None
    solved = (closed and s.close_reason in (CloseReason.CONFIRMED.value, CloseReason.RATED.value)
              and f.verdict != EventKind.REOPENED.value)  # fmt: skip
    return {
        "k_due": 1, "k_deferred": int(deferred), "k_closed": int(closed),
        "k_closed_on_time": int(closed and not f.overdue and not deferred),
        "k_resolutions": f.resolutions, "k_failed_verifications": f.failed_verifications,
        "k_responded": int(f.responded is True), "k_verdicts": int(verdict), "k_solved": int(verdict and solved),
        "k_ratings": len(s.ratings), "k_satisfied": sum(r >= SATISFIED_FROM for r in s.ratings),
        "k_yellow_cards": f.yellow_cards, "k_red_cards": f.red_cards,
    }  # fmt: skip


def add(a: Mapping[str, int], b: Mapping[str, int], sign: int = 1) -> Vector:
    out = dict(a)
    for k, n in b.items():
        out[k] = out.get(k, 0) + sign * n
    return out


def expand(parts: Mapping[Part, Vector], chain: Sequence[str]) -> dict[Key, Vector]:
    """The rows a contribution touches, by day and by month: dimension '' at each node of `chain`
    (grid first), the others above the grid, `person` once. Vectors may be shared between rows:
    treat them as read-only."""
    out: dict[Key, Vector] = {}
    above = chain[1:]
    for (day, dim, key), vector in parts.items():
        month = day[:8] + "01"
        for node in ("",) if dim in NODELESS else chain if dim == "" else above:
            for row in (("d", day, node, dim, key), ("m", month, node, dim, key)):
                have = out.get(row)
                out[row] = vector if have is None else add(have, vector)
    return out


def delta(old: Mapping[Key, Vector], new: Mapping[Key, Vector]) -> dict[Key, Vector]:
    """new − old, keys whose counts do not move left out."""
    out: dict[Key, Vector] = {}
    for key in old.keys() | new.keys():
        moved = {k: n for k, n in add(new.get(key, {}), old.get(key, {}), -1).items() if n}
        if moved:
            out[key] = moved
    return out


def chain_of(node_ids: Sequence[str]) -> list[str]:
    """The rollup nodes of a case: its grid's chain bottom-up and the root."""
    return [*node_ids, ROOT]


def checked_in(person: str, day: str) -> dict[Key, Vector]:
    """A worker's 报平安 of `day`."""
    return expand({(day, "person", person): {"checkins": 1}}, ())


# Periods -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Rows of one grain whose period falls in [first, last]."""

    grain: str
    first: str
    last: str


def spans(start: date, end: date) -> list[Span]:
    """Whole months of [start, end] as month rows, the ragged ends as day rows."""
    out: list[Span] = []
    month = start.replace(day=1) if start.day == 1 else _next_month(start)
    if month > end:
        return [Span("d", start.isoformat(), end.isoformat())]
    if start < month:
        out.append(Span("d", start.isoformat(), (month - timedelta(days=1)).isoformat()))
    last_month = month
    while _next_month(last_month) - timedelta(days=1) <= end:
        last_month = _next_month(last_month)
    if last_month > month:
        out.append(Span("m", month.isoformat(), (last_month - timedelta(days=1)).replace(day=1).isoformat()))
    if last_month <= end:
        out.append(Span("d", last_month.isoformat(), end.isoformat()))
    return out


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


# Reading sums back as the pure definitions' figures --------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def case_figures(v: Mapping[str, int]) -> dict[str, Any]:
    """`escalation.bulletin.case_figures` from summed counts."""
    created, cancelled, closed, ratings = (v.get(k, 0) for k in ("created", "cancelled", "closed", "ratings"))
    satisfied = v.get("rated_4", 0) + v.get("rated_5", 0)
    return {
        "created": created,
        "cancelled": cancelled,
        "closed": closed,
        "open": v.get("open", 0),
        "suspended": v.get("suspended", 0),
        "completion_rate": _rate(closed, created - cancelled),
        "on_time_rate": _rate(v.get("closed_on_time", 0), closed),
        "satisfaction": {
            "ratings": ratings,
            "mean": round(v.get("rating_sum", 0) / ratings, 2) if ratings else None,
            "satisfied_rate": _rate(satisfied, ratings),
            "default_satisfied": v.get("default_satisfied", 0),
        },
    }


def overdue_by_tier(v: Mapping[str, int]) -> dict[str, int]:
    return {t.value: v.get(f"esc_{t.value}", 0) for t in Tier if t is not Tier.GRID}


def counts_fields(v: Mapping[str, int]) -> dict[str, int]:
    """The `escalation.kpis.Counts` fields from summed counts."""
    return {name[2:]: v.get(name, 0) for name in KPI}


def within(key: Key, spans: Sequence[Span]) -> bool:
    grain, period = key[0], key[1]
    return any(s.grain == grain and s.first <= period <= s.last for s in spans)


def sums(
    rows: Mapping[Key, Vector],
    nodes: Sequence[str] | None,
    dim: str,
    spans: Sequence[Span],
    group: str,
    metrics: Sequence[str] = METRICS,
    keys: Sequence[str] | None = None,
) -> dict[str, Vector]:
    """`FigureStore.sums` over rows held in memory (a small jurisdiction's cases, the tests)."""
    at = {"period": 1, "node": 2, "key": 4}[group]
    wanted = None if nodes is None else set(nodes)
    only = None if keys is None else set(keys)
    out: dict[str, Vector] = defaultdict(dict)
    for key, vector in rows.items():
        if (
            key[3] == dim
            and (wanted is None or key[2] in wanted)
            and (only is None or key[4] in only)
            and within(key, spans)
        ):
            out[key[at]] = add(out[key[at]], vector)
    wanted_metrics = set(metrics)
    return {k: {m: n for m, n in v.items() if n and m in wanted_metrics} for k, v in out.items()}
