"""Sliding-window send limits for a platform (Telegram: ~20 messages/minute per group, 30/s overall).

In-process (one bot process); with GRIDBOT_REDIS_URL, `storage/redis_ratelimit.py` keeps the same
windows in Redis for every process. `wait` sleeps until a slot is free, so the outbox keeps each
chat's order.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Protocol


class SendLimiter(Protocol):
    async def wait(self, chat: str) -> None: ...


class RateLimiter:
    def __init__(self, per_chat: int, per_chat_window_s: float, overall: int, overall_window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._limits = ((per_chat, per_chat_window_s), (overall, overall_window_s))
        self._chats: defaultdict[str, deque[float]] = defaultdict(deque)
        self._all: deque[float] = deque()
        self._clock = clock
        self._lock = asyncio.Lock()

    def delay(self, chat: str) -> float:
        """Seconds until `chat` may send (0: now)."""
        now = self._clock()
        waits = [0.0]
        for window, (limit, span) in zip((self._chats[chat], self._all), self._limits, strict=True):
            while window and window[0] <= now - span:
                window.popleft()
            if len(window) >= limit:
                waits.append(window[0] + span - now)
        return max(waits)

    def take(self, chat: str) -> float:
        """Take a slot if one is free (returns 0), else say how long to wait (takes nothing)."""
        pause = self.delay(chat)
        if pause <= 0:
            now = self._clock()
            self._chats[chat].append(now)
            self._all.append(now)
        return pause

    async def wait(self, chat: str) -> None:
        async with self._lock:
            while (pause := self.take(chat)) > 0:  # noqa: ASYNC110 - sleeping until a slot frees is the point
                await asyncio.sleep(pause)
