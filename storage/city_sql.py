"""The city platform's side of the database in SQL (the `CityStore` port): its cases by their id there,
and the push outbox.

A push is claimed the way a delivery is (`storage.deliveries_sql`): its `next_attempt_at` moves to the
end of a lease in one conditional UPDATE, so of two processes that read the same due push only one
sends it; a process that dies holding a lease only delays the push until the lease ends. A push waits
behind an earlier pending push of its ticket that is not due (backing off, or held by another
process), so the platform hears of a case's events in their order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from tickets.ports import CityPush, Delivery

_PENDING, _SENT, _DEAD = Delivery.PENDING.value, Delivery.SENT.value, Delivery.DEAD.value
_c = t.city_pushes.c


class SqlCityStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def case_of(self, external_id: str) -> int | None:
        found = await self._c.execute(select(t.tickets.c.id).where(t.tickets.c.external_id == external_id))
        ticket_id = found.scalar_one_or_none()
        return int(ticket_id) if ticket_id is not None else None

    async def queue(self, ticket_id: int, bodies: Sequence[Mapping[str, object]], now: datetime) -> None:
        if not bodies:
            return
        e = t.ticket_events.c
        latest = select(e.id).where(e.ticket_id == ticket_id).order_by(e.id.desc()).limit(len(bodies))
        event_ids = sorted(int(i) for i in (await self._c.execute(latest)).scalars())
        if len(event_ids) != len(bodies):
            raise RuntimeError(f"ticket {ticket_id}: {len(bodies)} events to push, {len(event_ids)} stored")
        rows = [{"event_id": event_id, "ticket_id": ticket_id, "body": dict(body), "status": _PENDING, "attempts": 0,
                 "created_at": now, "next_attempt_at": now}
                for event_id, body in zip(event_ids, bodies, strict=True)]  # fmt: skip
        await self._c.execute(insert(t.city_pushes), rows)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[CityPush]:
        earlier = t.city_pushes.alias("earlier")
        behind = (
            select(earlier.c.id)
            .where(earlier.c.ticket_id == _c.ticket_id, earlier.c.id < _c.id, earlier.c.status == _PENDING,
                   earlier.c.next_attempt_at > now)
            .exists()
        )  # fmt: skip
        due = (_c.status == _PENDING) & (_c.next_attempt_at <= now)
        ids = list((await self._c.execute(select(_c.id).where(due, ~behind).order_by(_c.id).limit(limit))).scalars())
        if not ids:
            return []
        claim = update(t.city_pushes).where(_c.id.in_(ids), due).values(next_attempt_at=lease_until).returning(_c.id)
        claimed = list((await self._c.execute(claim)).scalars())
        if not claimed:
            return []
        rows = await self._c.execute(select(t.city_pushes).where(_c.id.in_(claimed)).order_by(_c.id))
        return [_push(r) for r in rows.mappings()]

    async def sent(self, push_id: int, now: datetime) -> None:
        await self._c.execute(
            update(t.city_pushes).where(_c.id == push_id)
            .values(status=_SENT, error=None, sent_at=now, next_attempt_at=None)
        )  # fmt: skip

    async def failed(self, push_id: int, error: str, retry_at: datetime | None) -> None:
        await self._c.execute(
            update(t.city_pushes).where(_c.id == push_id)
            .values(status=_PENDING if retry_at else _DEAD, error=error, attempts=_c.attempts + 1,
                    next_attempt_at=retry_at)
        )  # fmt: skip

    async def postpone(self, push_ids: Sequence[int], until: datetime) -> None:
        if push_ids:
            await self._c.execute(
                update(t.city_pushes).where(_c.id.in_(list(push_ids)), _c.status == _PENDING)
                .values(next_attempt_at=until)
            )  # fmt: skip

    async def by_status(self, status: Delivery, limit: int) -> list[CityPush]:
        query = select(t.city_pushes).where(_c.status == status.value).order_by(_c.id.desc()).limit(limit)
        return [_push(r) for r in (await self._c.execute(query)).mappings()]

    async def counts(self) -> dict[str, int]:
        query = select(_c.status, func.count()).where(_c.status.in_([_PENDING, _DEAD])).group_by(_c.status)
        return {str(k): int(n) for k, n in await self._c.execute(query)}

    async def retry(self, push_id: int) -> bool:
        result = await self._c.execute(
            update(t.city_pushes).where(_c.id == push_id, _c.status == _DEAD)
            .values(status=_PENDING, attempts=0, next_attempt_at=_c.created_at)  # due whatever a process's clock says
        )  # fmt: skip
        return bool(result.rowcount)


def _push(row: Mapping[str, Any] | RowMapping) -> CityPush:
    return CityPush(id=int(row["id"]), ticket_id=int(row["ticket_id"]), event_id=int(row["event_id"]),
                    body=row["body"], status=Delivery(row["status"]), attempts=int(row["attempts"] or 0),
                    created_at=row["created_at"], error=row["error"])  # fmt: skip
