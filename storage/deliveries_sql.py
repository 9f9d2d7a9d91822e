"""Per-platform deliveries of outbound messages in SQL (the `DeliveryStore` port).

Several bot processes run the outbox: a delivery is claimed by moving its `next_attempt_at` to a
lease's end in one conditional UPDATE, so of two processes that read the same due row only one
updates it (PostgreSQL re-checks the condition after the row lock; SQLite has one writer). A
process that dies holding a lease only delays the delivery until the lease ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.prepared import StatementRunner
from storage.rows import _message
from tickets.ports import Delivery, PlatformDelivery

_PENDING, _SENT, _DEAD = Delivery.PENDING.value, Delivery.SENT.value, Delivery.DEAD.value


def _behind() -> Any:
    """A delivery waits behind an earlier one of its conversation on its platform that is pending and
    not due (waiting, backing off, or held by another process): posts keep their order. Correlated
    with the claim's query of deliveries joined with their messages."""
    d, m = t.deliveries.c, t.messages.c
    earlier, its = t.deliveries.alias("earlier"), t.messages.alias("earlier_message")
    return (
        select(earlier.c.id)
        .join(its, its.c.id == earlier.c.message_id)
        .where(
            earlier.c.platform == d.platform,
            earlier.c.status == _PENDING,
            earlier.c.next_attempt_at > bindparam("b_now_too"),  # a bind appears once (prepared.py)
            earlier.c.message_id < d.message_id,
            its.c.chat_id.is_not_distinct_from(m.chat_id),
            its.c.person_id.is_not_distinct_from(m.person_id),
        )
        .exists()
    )


# The outbox's statements, built once (a pass runs them many times a second under load; building
# the correlated `_behind` per pass cost a sixth of the bot's CPU at 250 msg/s, bench/ingest.py).
# They run through `StatementRunner`: on PostgreSQL straight on asyncpg (storage/prepared.py).
_c = t.deliveries.c
_DUE = (_c.status == _PENDING) & (_c.next_attempt_at <= bindparam("b_now"))
_CLAIMABLE = (
    select(_c.id)
    .select_from(t.deliveries.join(t.messages, t.messages.c.id == _c.message_id))
    .where(_DUE, ~_behind())
    .order_by(_c.id)
    .limit(bindparam("b_limit"))
)
_CLAIM = (
    update(t.deliveries)
    .where(_c.id.in_(bindparam("b_ids", expanding=True)), _DUE)
    .values(next_attempt_at=bindparam("b_lease"))
    .returning(_c.id)
)
_TAKE_OFF_QUEUE = (
    update(t.messages)
    .where(t.messages.c.id.in_(bindparam("b_ids", expanding=True)), t.messages.c.status == _PENDING)
    .values(status=_SENT, error=None)
)
_DELIVERIES_BY_ID = select(t.deliveries).where(_c.id.in_(bindparam("b_ids", expanding=True))).order_by(_c.id)
_MESSAGES_BY_ID = select(t.messages).where(t.messages.c.id.in_(bindparam("b_ids", expanding=True)))


class SqlDeliveryStore:
    def __init__(self, conn: AsyncConnection, run: StatementRunner) -> None:
        self._c = conn
        self._run = run  # the outbox pass's statements (on PostgreSQL straight on asyncpg)

    async def fan_out(self, plan: Mapping[int, Sequence[str]], now: datetime) -> None:
        rows = [{"message_id": message_id, "platform": p, "status": _PENDING, "attempts": 0, "created_at": now,
                 "next_attempt_at": now} for message_id, platforms in plan.items() for p in platforms]  # fmt: skip
        if rows:
            await self._c.execute(self._insert_ignoring_repeats(), rows)
        if plan:
            await self._run.count(_TAKE_OFF_QUEUE, {"b_ids": list(plan)})

    def _insert_ignoring_repeats(self) -> Any:
        dialect = postgresql if self._c.dialect.name == "postgresql" else sqlite
        return dialect.insert(t.deliveries).on_conflict_do_nothing(index_elements=["message_id", "platform"])

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[PlatformDelivery]:
        ids = [r["id"] for r in await self._run.rows(_CLAIMABLE, {"b_now": now, "b_now_too": now, "b_limit": limit})]
        if not ids:
            return []
        claimed = await self._run.rows(_CLAIM, {"b_ids": ids, "b_now": now, "b_lease": lease_until})
        rows = await self._run.rows(_DELIVERIES_BY_ID, {"b_ids": [r["id"] for r in claimed]})
        return await self._joined(rows)

    async def sent(self, delivery_id: int, now: datetime) -> None:
        c = t.deliveries.c
        await self._c.execute(
            update(t.deliveries).where(c.id == delivery_id)
            .values(status=_SENT, error=None, sent_at=now, next_attempt_at=None)
        )  # fmt: skip

    async def failed(self, delivery_id: int, error: str, retry_at: datetime | None) -> None:
        c = t.deliveries.c
        status = _PENDING if retry_at else _DEAD
        await self._c.execute(
            update(t.deliveries).where(c.id == delivery_id)
            .values(status=status, error=error, attempts=c.attempts + 1, next_attempt_at=retry_at)
        )  # fmt: skip

    async def postpone(self, delivery_ids: Sequence[int], until: datetime) -> None:
        if delivery_ids:
            c = t.deliveries.c
            await self._c.execute(
                update(t.deliveries).where(c.id.in_(list(delivery_ids)), c.status == _PENDING)
                .values(next_attempt_at=until)
            )  # fmt: skip

    async def of_message(self, message_id: int) -> list[PlatformDelivery]:
        c = t.deliveries.c
        return await self._with_messages(select(t.deliveries).where(c.message_id == message_id).order_by(c.id))

    async def by_status(self, status: Delivery, limit: int) -> list[PlatformDelivery]:
        c = t.deliveries.c
        return await self._with_messages(
            select(t.deliveries).where(c.status == status.value).order_by(c.id.desc()).limit(limit)
        )

    async def counts(self) -> dict[str, int]:
        c = t.deliveries.c
        rows = await self._c.execute(
            select(c.status, func.count()).where(c.status.in_([_PENDING, _DEAD])).group_by(c.status)
        )
        return {str(k): int(n) for k, n in rows}

    async def retry(self, message_id: int, now: datetime) -> int:
        c = t.deliveries.c
        result = await self._c.execute(
            update(t.deliveries).where(c.message_id == message_id, c.status == _DEAD)
            .values(status=_PENDING, attempts=0, next_attempt_at=now)
        )  # fmt: skip
        return int(result.rowcount or 0)

    async def _with_messages(self, query: Any) -> list[PlatformDelivery]:
        return await self._joined((await self._c.execute(query)).mappings().all())

    async def _joined(self, rows: Sequence[Mapping[Any, Any]]) -> list[PlatformDelivery]:
        if not rows:
            return []
        found = await self._run.rows(_MESSAGES_BY_ID, {"b_ids": list({r["message_id"] for r in rows})})
        messages = {m["id"]: _message(m) for m in found}
        return [
            PlatformDelivery(id=r["id"], message=messages[r["message_id"]], platform=r["platform"],
                             status=Delivery(r["status"]), attempts=int(r["attempts"] or 0), error=r["error"])
            for r in rows
        ]  # fmt: skip
