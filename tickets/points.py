"""Points (积分), as the 平安超市 counties run them: what earns or costs points, derived purely from a
case's timeline or a worker's check-in, and the 平安超市's redemptions.

Residents earn for a report that became a real case, for confirming a fix and for rating; staff earn
for closing on time, for the daily 报平安 and for a mediated dispute, and lose for a failed
verification (the resident sent the fix back) and for a return found to be 推诿. The points of each
rule come from the policy (`config/points.yaml`); a rule worth 0 is off.

When (README "Points"):
- a report is a real case when the case closes after a fix (confirmed, rated or 默认满意); a cancelled
  case, one closed by staff (a duplicate, not ours, settled offline) and a follower's linked report
  (a duplicate) earn nothing. Consult cases are questions, not reports: they earn nothing at all;
- the fix is confirmed by the resident whose word closed it (确认, or a rating of 3 or more);
- the last resolver earns the closure when the case closes after a fix, if their resolve was within
  the phase deadline (`ON_TIME` on the resolve event, stamped by the escalation layer; a timeline
  without it: no overdue escalation since the last reopen); a dispute case (`dispute_types`) also
  earns the mediation; a closing rating of 1–2 is no confirmed fix (no closure, no mediation);
- a failed check costs the resolver it sends back (`verification_failed`): the community's 核查不通过
  (返工) or the resident's reopen (还没修好);
- a return (退单) is 推诿 when the case is dispatched or assigned (指定) to that same department again.

Every entry counts once per (person, account scope, rule, case or day): deriving a timeline again
(after each change, or in a rebuild) yields the same entries, and the ledger's unique key keeps
them once. The first entry keeps the points of its day's policy; later edits change new entries only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from tickets.city import CITY_REPORTER
from tickets.model import CloseReason, EventKind, Ticket, TicketEvent

CONSULT = "consult"  # a question, not a report (tickets.transitions.CONSULT)
ON_TIME = "on_time"  # the resolve event's detail: resolved within its phase deadline (escalation layer)
STAFF = ""  # the account scope of staff: one account across every grid they serve
FIXED_FROM = 3  # a closing rating from this (基本满意) up confirms the fix
MAX_REDEMPTION = 100_000


class Rule(StrEnum):
    REPORT_ACCEPTED = "report_accepted"
    FIX_CONFIRMED = "fix_confirmed"
    RATING_GIVEN = "rating_given"
    CLOSED_ON_TIME = "closed_on_time"
    CHECKIN = "checkin"
    DISPUTE_MEDIATED = "dispute_mediated"
    VERIFICATION_FAILED = "verification_failed"
    RETURN_PUSHBACK = "return_pushback"


RESIDENT_RULES = frozenset({Rule.REPORT_ACCEPTED, Rule.FIX_CONFIRMED, Rule.RATING_GIVEN})
PENALTIES = frozenset({Rule.VERIFICATION_FAILED, Rule.RETURN_PUSHBACK})
DEFAULT_POINTS: Mapping[Rule, int] = MappingProxyType({
    Rule.REPORT_ACCEPTED: 10, Rule.FIX_CONFIRMED: 2, Rule.RATING_GIVEN: 2, Rule.CLOSED_ON_TIME: 5,
    Rule.CHECKIN: 1, Rule.DISPUTE_MEDIATED: 10, Rule.VERIFICATION_FAILED: -5, Rule.RETURN_PUSHBACK: -10,
})  # fmt: skip
# Closed after a fix (a case closed without a rating after 返工 was verified by the community: fixed too).
_FIXED = frozenset({CloseReason.CONFIRMED.value, CloseReason.RATED.value, CloseReason.DEFAULT_SATISFIED.value,
                    CloseReason.NO_RATING.value})  # fmt: skip


class PointsError(ValueError):
    """A policy or a redemption that cannot be; the message says why (in Chinese, for the admin web)."""


@dataclass(frozen=True)
class PointsPolicy:
    points: Mapping[Rule, int] = field(default_factory=lambda: DEFAULT_POINTS)
    dispute_types: frozenset[str] = frozenset({"report_dispute"})

    def __post_init__(self) -> None:
        for rule, value in self.points.items():
            if (rule in PENALTIES and value > 0) or (rule not in PENALTIES and value < 0):
                raise PointsError(f"{rule.value}: {'a penalty' if rule in PENALTIES else 'a reward'} cannot be {value}")

    def of(self, rule: Rule) -> int:
        return self.points.get(rule, 0)


@dataclass(frozen=True)
class Entry:
    """One line of the ledger. `scope` is the account: STAFF for directory people (one account
    across grids), the grid for a resident (a sender id is a person in its chat only)."""

    person: str
    scope: str
    rule: Rule
    points: int
    ref: str  # "#12" a case, "2026-12-02" a day: the entry counts once per (person, scope, rule, ref)
    grid: str
    at: datetime
    ticket_id: int | None = None

    @property
    def key(self) -> tuple[str, str, Rule, str]:
        return self.person, self.scope, self.rule, self.ref


@dataclass(frozen=True)
class Balance:
    earned: int = 0  # every entry, penalties included
    redeemed: int = 0

    @property
    def available(self) -> int:
        return self.earned - self.redeemed


@dataclass(frozen=True)
class Redemption:
    """Something taken at the 平安超市 for points, recorded by `by` (an admin web account)."""

    person: str
    scope: str
    grid: str
    item: str
    points: int
    at: datetime
    by: str
    id: int = 0


def scope_of(rule: Rule, grid: str) -> str:
    return grid if rule in RESIDENT_RULES else STAFF


def case_entries(
    ticket: Ticket, events: Sequence[TicketEvent], policy: PointsPolicy, is_staff: Callable[[str], bool]
) -> list[Entry]:
    """Every entry the case's timeline earns, in timeline order, each key once (the first wins)."""
    if ticket.type == CONSULT:
        return []
    found: dict[tuple[str, str, Rule, str], Entry] = {}

    def earn(person: str, rule: Rule, at: datetime) -> None:
        if not person or person in ("system", CITY_REPORTER) or (rule in RESIDENT_RULES) == is_staff(person):
            return  # residents earn residents' rules, staff staff's; the system nothing
        entry = Entry(person, scope_of(rule, ticket.grid), rule, policy.of(rule), f"#{ticket.id}", ticket.grid, at,
                      ticket.id)  # fmt: skip
        if entry.points:
            found.setdefault(entry.key, entry)

    _walk(ticket, events, policy, earn)
    return list(found.values())


@dataclass(frozen=True)
class _Resolve:
    actor: str
    on_time: bool


def _walk(ticket: Ticket, events: Sequence[TicketEvent], policy: PointsPolicy,
          earn: Callable[[str, Rule, datetime], None]) -> None:  # fmt: skip
    resolved: _Resolve | None = None
    late = False  # an overdue escalation since the case (re)started: the fallback of an unstamped resolve
    returned: dict[str, list[str]] = defaultdict(list)  # department → who returned the case from it
    last_rating: dict[str, int] = {}
    for event in events:
        kind, detail = event.kind, event.detail
        if (kind is EventKind.ESCALATED and event.actor == "system") or kind is EventKind.YELLOW_CARD:
            late = True
        elif kind is EventKind.RESOLVED:
            stamped = detail.get(ON_TIME)
            resolved = _Resolve(event.actor, stamped if isinstance(stamped, bool) else not late)
        elif kind is EventKind.RATED:
            rating = detail.get("rating")
            last_rating[event.actor] = rating if isinstance(rating, int) else 0
            earn(event.actor, Rule.RATING_GIVEN, event.at)
        elif kind is EventKind.CONFIRMED:
            earn(event.actor, Rule.FIX_CONFIRMED, event.at)
        elif kind is EventKind.CLOSED and detail.get("reason") in _FIXED:
            _closed(ticket, event, resolved, last_rating, policy, earn)
        elif kind in (EventKind.REOPENED, EventKind.VERIFICATION_FAILED):  # the resident's or the community's 核查
            if resolved is not None:
                earn(resolved.actor, Rule.VERIFICATION_FAILED, event.at)
            resolved, late = None, False
        elif kind is EventKind.RETURNED:
            returned[str(detail.get("department", ""))].append(event.actor)
        elif kind in (EventKind.DISPATCHED, EventKind.ARBITRATED):
            for actor in returned.get(str(detail.get("department", "")), []):
                earn(actor, Rule.RETURN_PUSHBACK, event.at)


def _closed(ticket: Ticket, event: TicketEvent, resolved: _Resolve | None, last_rating: Mapping[str, int],
            policy: PointsPolicy, earn: Callable[[str, Rule, datetime], None]) -> None:  # fmt: skip
    """The case closed after a fix: the report was real; a rating of 3+ that closed it confirms the fix."""
    earn(ticket.reporter, Rule.REPORT_ACCEPTED, event.at)
    fixed = True
    if event.detail.get("reason") == CloseReason.RATED.value:
        # the resident whose rating closed it; a community 核查 that closes a case rated meanwhile
        # is the verifier's event, and the rating that counts is the resident's
        rater = event.actor if event.actor in last_rating else next(iter(last_rating), "")
        fixed = last_rating.get(rater, 0) >= FIXED_FROM
        if fixed:
            earn(rater, Rule.FIX_CONFIRMED, event.at)
    if resolved is None or not fixed:
        return
    if resolved.on_time:
        earn(resolved.actor, Rule.CLOSED_ON_TIME, event.at)
    if ticket.type in policy.dispute_types:
        earn(resolved.actor, Rule.DISPUTE_MEDIATED, event.at)


def checkin_entry(person: str, grid: str, day: str, at: datetime, policy: PointsPolicy) -> Entry | None:
    """报平安: once a day (None when the rule is off)."""
    points = policy.of(Rule.CHECKIN)
    return Entry(person, STAFF, Rule.CHECKIN, points, day, grid, at) if points else None


def redeem(balance: Balance, person: str, scope: str, grid: str, item: str, points: int, at: datetime,
           by: str) -> Redemption:  # fmt: skip
    """A redemption at the 平安超市, refused (PointsError) beyond the balance or without an item."""
    item = " ".join(item.split())
    if not person.strip():
        raise PointsError("请填写兑换人")
    if not item or len(item) > 100:
        raise PointsError("请填写兑换的物品（最多 100 个字）")
    if not 0 < points <= MAX_REDEMPTION:
        raise PointsError(f"兑换积分须为 1 到 {MAX_REDEMPTION} 之间的整数")
    if points > balance.available:
        raise PointsError(f"积分不足：可用 {balance.available} 分，不能兑换 {points} 分")
    return Redemption(person.strip(), scope, grid, item, points, at, by)


@dataclass(frozen=True)
class Row:
    """One account in one grid's monthly table: points by rule this month, the month's total, the balance."""

    person: str
    scope: str
    by_rule: Mapping[Rule, int] = field(default_factory=lambda: MappingProxyType({}))
    balance: Balance = Balance()

    @property
    def total(self) -> int:
        return sum(self.by_rule.values())


def month_table(
    sums: Iterable[tuple[str, str, str, str, int]],
    balances: Mapping[tuple[str, str], Balance],
    staff_of: Mapping[str, Sequence[str]],
) -> dict[str, list[Row]]:
    """Per grid, its accounts with the month's points by rule (`sums`: grid, person, scope, rule,
    points) and their balance; the grid's own staff (`staff_of`) are listed even without points.
    Most points first."""
    cells: dict[str, dict[tuple[str, str], dict[Rule, int]]] = defaultdict(lambda: defaultdict(dict))
    for grid, staff in staff_of.items():
        for person in staff:
            cells[grid].setdefault((person, STAFF), {})  # listed with no points yet
    for grid, person, scope, rule, points in sums:
        row = cells[grid][(person, scope)]
        row[Rule(rule)] = row.get(Rule(rule), 0) + points
    table: dict[str, list[Row]] = {}
    for grid, accounts in cells.items():
        rows = [Row(p, s, MappingProxyType(dict(r)), balances.get((p, s), Balance())) for (p, s), r in accounts.items()]
        table[grid] = sorted(rows, key=lambda row: (-row.total, row.scope != STAFF, row.person))
    return table


class PointStore(Protocol):
    """The ledger (`points`) and the 平安超市's redemptions, in the unit of work's transaction."""

    async def add(self, entries: Sequence[Entry]) -> int:
        """Record the entries not recorded yet (the unique key: person, scope, rule, ref); how many were new."""
        ...

    async def balance(self, person: str, scope: str) -> Balance: ...

    async def balances(self, accounts: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Balance]: ...

    async def entries(self, person: str, scope: str, limit: int) -> list[Entry]:
        """The account's latest entries, newest first."""
        ...

    async def earned_between(self, person: str, scope: str, start: datetime, end: datetime) -> int: ...

    async def sums(
        self, grids: Sequence[str] | None, start: datetime, end: datetime
    ) -> list[tuple[str, str, str, str, int]]:
        """(grid, person, scope, rule, points) summed over entries of `start` ≤ at < `end` in these
        grids (None: every grid)."""
        ...

    async def accounts_in(self, grid: str) -> list[tuple[str, str]]:
        """Every (person, scope) that earned or redeemed in this grid."""
        ...

    async def lock(self, person: str, scope: str) -> None:
        """Hold the account until the transaction ends (a redemption reads the balance, then writes)."""
        ...

    async def redeem(self, redemption: Redemption) -> int: ...

    async def redemptions(self, grids: Sequence[str] | None, start: datetime, end: datetime,
                          limit: int = 500) -> list[Redemption]: ...  # fmt: skip
