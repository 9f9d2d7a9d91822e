"""The city platform's pushes (12345, 接诉即办): every timeline event of a case, signed, POSTed to the
platform through an outbox of its own.

`CityFeed` is the case service's event feed: in the transaction that appends a case's events it
queues one push per event (`city_pushes`), so a push exists exactly when its event does. Which cases:
those that came from the platform (`external_id` set), or every case when the site says so.

`CityPusher` sends them, in every bot process: due pushes are claimed under a lease (two processes
never send one push at once), a ticket's pushes go in order (a push waits behind an earlier one that
backs off), tickets concurrently. Each POST is cut off after `timeout_s`; a failure (no answer, an
answer other than 2xx) retries with exponential backoff capped at `max_delay_s` and jitter, and after
`max_attempts` the push becomes a dead letter (`GET /api/v1/city/pushes?status=dead`, retried by
`POST /api/v1/city/pushes/{id}/retry`). It runs beside the chat path and shares nothing with it but
the database: a dead platform costs one failed POST per push now and then, never a message.

The body is JSON (UTF-8) with the event's id as `id` (the receiver's key to drop a repeat: a push
whose lease ran out while its POST was in flight may come twice) and `sent_at` (Unix seconds, also in
the `X-Gridbot-Timestamp` header). `X-Gridbot-Signature: sha256=<hex>` is the HMAC-SHA256 of the raw
body with the shared secret; as `sent_at` is inside the signed body, a receiver that checks it against
its clock refuses replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from tickets.model import Ticket, TicketEvent
from tickets.ports import CityPush, UnitOfWork

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Gridbot-Signature"
TIMESTAMP_HEADER = "X-Gridbot-Timestamp"
BATCH = 16  # pushes claimed at once: the lease covers them all sent one after another at the full timeout


class CityFeed:
    """The case service's `EventFeed`: a push per new event of a case in scope."""

    def __init__(self, every_case: bool = False) -> None:
        self._every_case = every_case

    async def publish(self, uow: UnitOfWork, ticket: Ticket, events: Sequence[TicketEvent], now: datetime) -> None:
        if ticket.external_id is None and not self._every_case:
            return
        await uow.city.queue(ticket.id, [push_body(ticket, e) for e in events], now)


def push_body(ticket: Ticket, event: TicketEvent) -> dict[str, Any]:
    """What the platform hears of `event` (the case's state is the one after the change)."""
    return {
        "ticket_id": ticket.id,
        "external_id": ticket.external_id,
        "event": str(event.kind),
        "at": event.at.isoformat(),
        "actor": event.actor,
        "detail": json.loads(json.dumps(dict(event.detail), default=str)),
        "state": ticket.state.value,
        "type": ticket.type,
        "grid": ticket.grid,
    }


def encode(push: CityPush, sent_at: int) -> bytes:
    return json.dumps({**push.body, "id": push.event_id, "sent_at": sent_at}, ensure_ascii=False).encode("utf-8")


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Gridbot-Signature` value of `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str) -> bool:
    """What a receiver does (constant time); tests use it as the city platform would."""
    return hmac.compare_digest(sign(secret, body).encode(), signature.encode())


class PushRefused(Exception):
    """The platform answered something other than 2xx: an attempt spent."""


class CityPusher:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        client: httpx.AsyncClient,
        url: str,
        secret: bytes,
        now: Callable[[], datetime],
        *,
        max_attempts: int = 20,
        base_delay_s: float = 1.0,
        max_delay_s: float = 300.0,
        timeout_s: float = 5.0,
        concurrency: int = 8,
        on_attempt: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        self._uow = uow
        self._client = client
        self._url = url
        self._secret = secret
        self._now = now
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._on_attempt = on_attempt

    async def run(self, interval_s: float) -> None:
        """Passes until fewer than a batch was due, then a pause of `interval_s`; a pass that fails
        (the database away) is logged and repeated."""
        while True:
            try:
                while (await self._pass(BATCH))[0] == BATCH:
                    pass
            except Exception:
                log.exception("city push pass failed; retrying")
            await asyncio.sleep(interval_s)

    async def push_due(self, limit: int = BATCH) -> int:
        """Claim up to `limit` due pushes and send them; how many the platform took."""
        return (await self._pass(limit))[1]

    async def _pass(self, limit: int) -> tuple[int, int]:
        """(claimed, taken). The lease outlasts the slowest pass: every push sent in turn at the full timeout."""
        now = self._now()
        async with self._uow() as uow:
            due = await uow.city.claim_due(now, now + timedelta(seconds=self.timeout_s * limit + 30), limit)
        tickets: dict[int, list[CityPush]] = {}
        for push in due:  # oldest first: each ticket's in order
            tickets.setdefault(push.ticket_id, []).append(push)
        return len(due), sum(await asyncio.gather(*(self._in_order(rows) for rows in tickets.values())))

    async def _in_order(self, rows: list[CityPush]) -> int:
        """One ticket's pushes in order, up to the first failure (the rest wait as long as it does)."""
        sent = 0
        async with self._slots:
            for i, push in enumerate(rows):
                later = await self._push(push)
                if later is not None:
                    async with self._uow() as uow:
                        await uow.city.postpone([p.id for p in rows[i + 1 :]], later)
                    break
                sent += 1
        return sent

    async def _push(self, push: CityPush) -> datetime | None:
        """POST one push; None when the platform took it, else when to try its ticket again."""
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._post(push)
        except Exception as exc:  # no answer, a refusal, a bug: an attempt spent, never a lost push
            return await self._failed(push, exc)
        async with self._uow() as uow:
            await uow.city.sent(push.id, self._now())
        self._on_attempt(True)
        return None

    async def _post(self, push: CityPush) -> None:
        sent_at = int(self._now().timestamp())
        body = encode(push, sent_at)
        headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(self._secret, body),
                   TIMESTAMP_HEADER: str(sent_at), "User-Agent": "gridbot"}  # fmt: skip
        response = await self._client.post(self._url, content=body, headers=headers)
        if not response.is_success:
            raise PushRefused(f"HTTP {response.status_code}: {response.text[:200]}")

    async def _failed(self, push: CityPush, exc: Exception) -> datetime:
        retry_at = self._retry_at(push.attempts + 1)
        async with self._uow() as uow:
            await uow.city.failed(push.id, repr(exc)[:500], retry_at)
        if retry_at is None:
            log.error("city push %s (ticket %s) gave up after %d attempts: %r", push.id, push.ticket_id,
                      push.attempts + 1, exc)  # fmt: skip
        else:
            log.warning("city push %s (ticket %s) failed (%r), retry at %s", push.id, push.ticket_id, exc, retry_at)
        self._on_attempt(False)
        return retry_at or self._now()

    def _retry_at(self, attempts: int) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        delay = self.base_delay_s * 2 ** min(attempts - 1, 30) * random.uniform(0.5, 1.5)
        return self._now() + timedelta(seconds=min(self.max_delay_s, delay))
