"""The timer trigger on a real APScheduler: a step that commits arms the ticket's next step from
inside its own job; when that step is already due (a restart after a downtime that passed several
steps), it fires at once instead of being skipped until the next audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from escalation.scheduler import AlwaysLeader, SchedulerTrigger


class ChainedSteps:
    """An engine whose every fire arms the same ticket's next step, due now, from inside the job."""

    def __init__(self, trigger: SchedulerTrigger, steps: int) -> None:
        self.trigger, self.steps = trigger, steps
        self.fired: list[int] = []

    async def fire(self, ticket_id: int, token: int | None = None) -> bool:
        self.fired.append(token or 0)
        if len(self.fired) < self.steps:
            self.trigger.arm(ticket_id, datetime.now(UTC), len(self.fired))
            await asyncio.sleep(0.05)  # the rest of the commit: the job is still running
        return True

    async def audit(self) -> int:
        return 0

    async def rearm_all(self) -> int:
        return 0


async def test_an_overdue_next_step_armed_by_a_firing_step_fires_at_once() -> None:
    trigger = SchedulerTrigger(AlwaysLeader(), audit_interval_s=3600)
    engine = ChainedSteps(trigger, steps=3)
    trigger.arm(7, datetime.now(UTC), 0)
    trigger.start(engine)  # type: ignore[arg-type]
    try:
        for _ in range(50):
            if len(engine.fired) == 3:
                break
            await asyncio.sleep(0.05)
        assert engine.fired == [0, 1, 2]
    finally:
        trigger.shutdown()
