"""Daily and monthly routines: the 报平安 reminder, the township digest, the monthly bulletin.

Each run claims a key (`checkin-reminder:2026-12-01`) in the database first, so a routine runs
once per day or month whatever the number of processes or restarts; APScheduler only triggers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from escalation import bulletin, figures
from escalation.calendar import LOCAL, is_workday
from tickets import rollups
from tickets.directory import Directory, Node, Role
from tickets.model import Notice, Tier
from tickets.ports import Notifier, UnitOfWork, UnitOfWorkFactory
from tickets.texts import Text

log = logging.getLogger(__name__)
Names = Callable[[str, str], str]


def local_day(at: datetime) -> date:
    return at.astimezone(LOCAL).date()


def previous_month(today: date) -> str:
    first = today.replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def month_bounds(period: str) -> tuple[datetime, datetime, list[str]]:
    """UTC start/end of a YYYY-MM month in Beijing time, and its workdays."""
    year, month = (int(x) for x in period.split("-"))
    start = datetime(year, month, 1, tzinfo=LOCAL)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=LOCAL)
    days = [(start + timedelta(days=i)).date() for i in range((end - start).days)]
    return start, end, [d.isoformat() for d in days if is_workday(d)]


async def monthly_bodies(
    uow: UnitOfWork, directory: Directory, period: str, scopes: Sequence[Node]
) -> list[tuple[Node, dict[str, Any]]]:
    """The month's bulletin of each scope (a district or a township), from the rollups."""
    start, end, workdays = month_bounds(period)
    first, last = local_day(start), local_day(end - timedelta(days=1))
    everything = figures.Scope((rollups.ROOT,), None, True)
    known = await figures.read_shared(uow.figures.sums, directory, everything, first, last)  # once for all scopes
    out = []
    for scope in scopes:
        whole = figures.Scope((scope.id,), None, True)
        f = await figures.read_period(uow.figures.sums, directory, whole, first, last, grid_kpis=True, known=known)
        carded = await uow.tickets.carded("red_card", start, end, bulletin.grids_under(directory, scope.id))
        out.append((scope, bulletin.monthly_of(period, scope, directory, f, carded, workdays)))
    return out


class Routines:
    def __init__(
        self, uow: UnitOfWorkFactory, notifier: Notifier, directory: Callable[[], Directory],
        now: Callable[[], datetime], names: Names,
    ) -> None:  # fmt: skip
        self._uow = uow
        self._notifier = notifier
        self._directory = directory
        self._now = now
        self._names = names

    async def remind_checkins(self) -> int:
        """Workers who have not checked in today get one reminder (workdays only)."""
        now = self._now()
        day = local_day(now)
        if not is_workday(day):
            return 0
        async with self._uow() as uow:
            if not await uow.records.claim_job(f"checkin-reminder:{day}", now):
                return 0
            done = {p for p, _ in await uow.records.checked_in(day.isoformat(), day.isoformat())}
            missing = bulletin.missing_checkins(self._directory(), done)
            notices = [Notice(Text.CHECKIN_REMINDER, person_id=p, params={"worker": p}) for p in missing]
            await self._notifier.notify(uow, notices, now=now)
        log.info("check-in reminder %s: %d workers reminded", day, len(missing))
        return len(missing)

    async def daily_digest(self) -> int:
        """Each township's officers get yesterday-to-now in one message; the digest is kept."""
        now = self._now()
        day = local_day(now)
        directory = self._directory()
        async with self._uow() as uow:
            if not await uow.records.claim_job(f"digest:{day}", now):
                return 0
            since = now - timedelta(days=1)
            new = await uow.tickets.created_per_grid(since, now)
            closed = await uow.tickets.closed_per_grid(since, now)
            live = await uow.tickets.live_counts(None, now)
            sent = 0
            for township in (n for n in directory.nodes.values() if n.tier is Tier.TOWNSHIP):
                body = bulletin.digest(township, directory, new, closed, live)
                text = bulletin.render_digest(body, self._names)
                await uow.records.save_bulletin("daily", day.isoformat(), township.id, now, body, text)
                officers = [p for p in directory.people.values() if p.role is Role.OFFICER and p.node == township.id]
                params = {"lines": text, "grid": township.id}
                notices = [Notice(Text.OFFICER_DIGEST, person_id=p.id, params=params) for p in officers]
                await self._notifier.notify(uow, notices, now=now)
                sent += len(notices)
        return sent

    async def monthly_bulletin(self, period: str | None = None, force: bool = False) -> list[int]:
        """The 月度通报 of the previous month (on the 5th), for the district and each township;
        kept for download and sent to their officers. `force` regenerates a period on demand."""
        now = self._now()
        period = period or previous_month(local_day(now))
        directory = self._directory()
        async with self._uow() as uow:
            if not force and not await uow.records.claim_job(f"monthly:{period}", now):
                return []
            ids = []
            scopes = [n for n in directory.nodes.values() if n.tier in (Tier.DISTRICT, Tier.TOWNSHIP)]
            for scope, body in await monthly_bodies(uow, directory, period, scopes):
                text = bulletin.render_monthly(body, self._names)
                bid = await uow.records.save_bulletin("monthly", period, scope.id, now, body, text)
                ids.append(bid)
                officers = [p for p in directory.people.values() if p.role is Role.OFFICER and p.node == scope.id]
                params = {"lines": text.split("\n\n")[1] if "\n\n" in text else text, "grid": scope.id,
                          "ticket_id": bid, "text": period}  # fmt: skip
                pdf = ({"kind": "file", "bulletin": bid, "name": f"bulletin-{period}-{scope.id}.pdf",
                        "url": f"/admin/bulletins/{bid}/pdf"},)  # fmt: skip
                notices = [Notice(Text.OFFICER_BULLETIN, person_id=p.id, params=params, attachments=pdf)
                           for p in officers]  # fmt: skip
                await self._notifier.notify(uow, notices, now=now)
        log.info("monthly bulletin %s: %d scopes", period, len(ids))
        return ids
