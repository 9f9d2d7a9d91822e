"""The figures departments, tiers and grids are assessed on (GB/T 30428 part 4, 接诉即办), defined once
and used by `GET /api/v1/kpis`, the dashboard, the monthly bulletin and the exports.

Over the cases created in the period (the same population as the bulletin), cancelled ones left out:

- 应结案数 due = cases created − cancelled.
- 缓办数 deferred = cases put on hold (挂账, `suspended`) or given an approved extension (延期).
- 按期结案数 closed_on_time = closed cases with no overdue mark: no `system` escalation (the ladder
  climbing because a deadline passed; a worker's 吹哨 is not lateness) and no yellow card (黄牌);
  a deferred case leaves both sides of the rate.
- 按期结案率 on_time_rate = closed_on_time ÷ (due − deferred).
- 结案率 closure_rate = closed ÷ due.
- 返工率 rework_rate = failed verifications (核查不通过) ÷ submitted resolutions (已处理 events).
- 推诿 returns = 退单 events, counted against the department that returned the case.
- 响应率 response_rate = cases taken in time (accepted, reported in or signed for before any
  overdue mark of the accept phase or a missed sign deadline) ÷ due.
- 解决率 resolution_rate = cases whose resident says it is solved (closed on their confirmation or
  rating, never sent back after it) ÷ cases with a resident's verdict (confirmed, rated or sent back).
- 满意率 satisfaction_rate = ratings ≥ 4 ÷ ratings (默认满意 is no rating and never counts).

A case counts for its grid, for the tier that holds it (`Ticket.tier`) and, when a department holds
it, for that department; returns count for the department that returned it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tickets.model import CloseReason, EventKind, Ticket, TicketEvent, TicketState

SATISFIED_FROM = 4
_RESPONSES = frozenset({EventKind.ACCEPTED, EventKind.REPORTED_IN, EventKind.SIGNED})
_VERDICTS = frozenset({EventKind.CONFIRMED, EventKind.RATED, EventKind.REOPENED})


@dataclass
class Counts:
    """The counts behind every rate, for one department, tier or grid."""

    due: int = 0
    deferred: int = 0
    closed: int = 0
    closed_on_time: int = 0
    resolutions: int = 0
    failed_verifications: int = 0
    returns: int = 0
    responded: int = 0
    verdicts: int = 0
    solved: int = 0
    ratings: int = 0
    satisfied: int = 0
    yellow_cards: int = 0
    red_cards: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def rates(self) -> dict[str, float | None]:
        return {
            "on_time_rate": _rate(self.closed_on_time, self.due - self.deferred),
            "closure_rate": _rate(self.closed, self.due),
            "rework_rate": _rate(self.failed_verifications, self.resolutions),
            "response_rate": _rate(self.responded, self.due),
            "resolution_rate": _rate(self.solved, self.verdicts),
            "satisfaction_rate": _rate(self.satisfied, self.ratings),
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.rates(), "returns": self.returns, "counts": dict(vars(self))}


@dataclass
class Kpis:
    by_department: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    by_tier: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    by_grid: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    total: Counts = field(default_factory=Counts)

    def to_json(self, name: Callable[[str, str], str] = lambda group, key: key) -> dict[str, Any]:
        return {
            "total": self.total.to_json(),
            "departments": _rows(self.by_department, "department", name),
            "tiers": _rows(self.by_tier, "tier", name),
            "grids": _rows(self.by_grid, "grid", name),
            "ranking": ranking(self.by_department, name),
        }


def kpis(tickets: Sequence[Ticket], events: Mapping[int, Sequence[TicketEvent]]) -> Kpis:
    out = Kpis()
    for ticket in tickets:
        history = events.get(ticket.id, ())
        counts = case_counts(ticket, history)
        out.total.add(counts)
        out.by_grid[ticket.grid].add(counts)
        out.by_tier[ticket.tier.value].add(counts)
        if ticket.department:
            out.by_department[ticket.department].add(counts)
        for e in history:
            if e.kind is EventKind.RETURNED:
                department = str(e.detail.get("department", ""))
                out.by_department[department].returns += 1
    return out


def case_counts(ticket: Ticket, history: Sequence[TicketEvent]) -> Counts:
    """One case's contribution to every figure (a cancelled case contributes nothing)."""
    if ticket.state is TicketState.CANCELLED:
        return Counts()
    kinds = [e.kind for e in history]
    closed = ticket.state is TicketState.CLOSED
    ratings = list(ticket.ratings.values())
    verdict = any(k in _VERDICTS for k in kinds)
    deferred = ticket.state is TicketState.SUSPENDED or any(
        k in (EventKind.SUSPENDED, EventKind.EXTENSION_APPROVED) for k in kinds
    )
    return Counts(
        due=1,
        deferred=int(deferred),
        closed=int(closed),
        closed_on_time=int(closed and not overdue(history) and not deferred),  # 缓办 leaves both sides
        resolutions=kinds.count(EventKind.RESOLVED),
        failed_verifications=kinds.count(EventKind.VERIFICATION_FAILED),
        returns=0,  # counted against the returning department in `kpis`
        responded=int(responded_in_time(history)),
        verdicts=int(verdict),
        solved=int(verdict and solved(ticket, history)),
        ratings=len(ratings),
        satisfied=sum(r >= SATISFIED_FROM for r in ratings),
        yellow_cards=kinds.count(EventKind.YELLOW_CARD),
        red_cards=kinds.count(EventKind.RED_CARD),
    )


def overdue(history: Sequence[TicketEvent]) -> bool:
    """A deadline of the case passed: the ladder climbed on its own, or a yellow card was given."""
    return any(
        (e.kind is EventKind.ESCALATED and e.actor == "system") or e.kind is EventKind.YELLOW_CARD for e in history
    )


def responded_in_time(history: Sequence[TicketEvent]) -> bool:
    """Taken (accepted, reported in, signed) before the accept phase went overdue or a sign deadline passed."""
    for e in history:
        if e.kind in _RESPONSES:
            return True
        late_accept = e.kind is EventKind.ESCALATED and e.actor == "system" and e.detail.get("phase") == "accept"
        if late_accept or e.kind is EventKind.SIGN_OVERDUE:
            return False
    return False


def solved(ticket: Ticket, history: Sequence[TicketEvent]) -> bool:
    """The resident's last word says solved: the case closed on their confirmation or rating and was
    not sent back after it."""
    if ticket.state is not TicketState.CLOSED or ticket.close_reason not in (CloseReason.CONFIRMED, CloseReason.RATED):
        return False
    last = [e.kind for e in history if e.kind in _VERDICTS]
    return bool(last) and last[-1] is not EventKind.REOPENED


def ranking(by_department: Mapping[str, Counts], name: Callable[[str, str], str]) -> list[dict[str, Any]]:
    """The monthly ranking of departments: on-time rate, then satisfaction, then fewer returns."""
    rows = [(key, counts, counts.rates()) for key, counts in by_department.items() if key]
    rows.sort(key=lambda r: (-(r[2]["on_time_rate"] or 0), -(r[2]["satisfaction_rate"] or 0), r[1].returns, r[0]))
    return [{"rank": i, "id": key, "name": name("department", key), **counts.to_json()}
            for i, (key, counts, _) in enumerate(rows, start=1)]  # fmt: skip


def _rows(groups: Mapping[str, Counts], group: str, name: Callable[[str, str], str]) -> list[dict[str, Any]]:
    return [{"id": key, "name": name(group, key), **counts.to_json()} for key, counts in sorted(groups.items()) if key]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None
