"""APScheduler as a trigger only: one date job per ticket plus a periodic audit.

Jobs run only in the leader process (see `Leader`); every job is idempotent because the
engine fences each step with the ticket's clock token.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from escalation.calendar import LOCAL
from escalation.cases import HORIZON, StaleTicket
from escalation.engine import EscalationEngine

log = logging.getLogger(__name__)


class Leader(Protocol):
    async def is_leader(self) -> bool: ...

    async def resign(self) -> None: ...


class AlwaysLeader:
    """The single-process default: this process is the only scheduler."""

    async def is_leader(self) -> bool:
        return True

    async def resign(self) -> None:
        return None


class SchedulerTrigger:
    """Built before the engine (the case service arms timers through it); `start` hands it the
    engine whose steps its jobs fire. Jobs armed before `start` wait in APScheduler until then."""

    def __init__(self, leader: Leader, audit_interval_s: float) -> None:
        self._engine: EscalationEngine | None = None
        self._leader = leader
        self._audit_interval_s = audit_interval_s
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._armed: dict[int, str] = {}  # ticket id → its timer's job id

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def add_routine(self, name: str, job: Callable[[], Awaitable[object]], **cron: object) -> None:
        """A daily/monthly routine at Beijing time (`hour=16, minute=0`, `day=5`); leader only, and the
        routine itself claims its run in the database, so it runs once per period."""

        async def run() -> None:
            try:
                if await self._leader.is_leader():
                    await job()
            except Exception:
                log.exception("routine %s failed; it runs again at its next time", name)

        self._scheduler.add_job(
            run, "cron", id=f"routine-{name}", timezone=LOCAL, coalesce=True, misfire_grace_time=3600,
            **cron,
        )  # fmt: skip

    def start(self, engine: EscalationEngine) -> None:
        self._engine = engine
        self._scheduler.add_job(
            self._audit, "interval", seconds=self._audit_interval_s, id="audit", max_instances=1, coalesce=True
        )
        self._scheduler.add_job(
            self._rearm, "interval", seconds=HORIZON.total_seconds() / 2, id="rearm", max_instances=1, coalesce=True
        )
        self._scheduler.start()

    async def _rearm(self) -> None:
        try:
            if self._engine is not None:
                await self._engine.rearm_all()
        except Exception:
            log.exception("arming the next timers failed; retrying next interval")

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def arm(self, ticket_id: int, at: datetime, token: int) -> None:
        """One date job per (ticket, token): a step that commits arms the next one from inside its own
        job, and when that one is already due (a restart after a downtime that passed several steps)
        it must run at once, not be skipped as another instance of a running job. The ticket's
        earlier timer is dropped (one that is running finishes; fires are fenced by the token)."""
        job_id = f"ticket-{ticket_id}-{token}"
        previous = self._armed.get(ticket_id)
        if previous is not None and previous != job_id:
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(previous)
        self._scheduler.add_job(
            self._fire, "date", run_date=at, args=(ticket_id, token), id=job_id, replace_existing=True,
            misfire_grace_time=None,
        )  # fmt: skip
        self._armed[ticket_id] = job_id

    async def _fire(self, ticket_id: int, token: int) -> None:
        if self._armed.get(ticket_id) == f"ticket-{ticket_id}-{token}":
            del self._armed[ticket_id]
        if self._engine is None or not await self._leader.is_leader():
            return
        try:
            await self._engine.fire(ticket_id, token)
        except StaleTicket:
            log.info("ticket %s: stale timer ignored", ticket_id)
        except Exception:
            log.exception("ticket %s: escalation step failed; the audit will retry", ticket_id)

    async def _audit(self) -> None:
        try:
            if self._engine is not None and await self._leader.is_leader():
                await self._engine.audit()
        except Exception:
            log.exception("escalation audit failed; retrying next interval")
