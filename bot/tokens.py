"""Platform access tokens (WeChat, WeCom) shared by every bot process.

Fetching a new access token makes the platform retire the old one, so processes that each kept
their own would keep invalidating one another. One token per platform lives in a `TokenStore`
(Redis in production, memory in a single process): a process reads it there, and only when it is
missing does one process, holding a short lock, fetch it from the platform while the others wait
for it. A token the platform rejected is dropped only if the store still holds that same token,
so a late rejection never throws away a newer one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # the platform's answer: token, expires_in seconds


class TokenStore(Protocol):
    async def read(self, name: str) -> tuple[str, float] | None:
        """The token and the seconds it stays valid, if one is stored."""
        ...

    async def write(self, name: str, token: str, ttl_s: float) -> None: ...

    async def lock(self, name: str, ttl_s: float) -> bool:
        """Take the fetch lock (it expires on its own after `ttl_s`); False if another holds it."""
        ...

    async def unlock(self, name: str) -> None: ...

    async def drop(self, name: str, token: str) -> None:
        """Forget the stored token, but only if it is still `token`."""
        ...


class MemoryTokenStore:
    """One process: the store is this dict (the lock is an asyncio one in effect)."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: set[str] = set()

    async def read(self, name: str) -> tuple[str, float] | None:
        found = self._tokens.get(name)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0], found[1] - time.monotonic()

    async def write(self, name: str, token: str, ttl_s: float) -> None:
        self._tokens[name] = (token, time.monotonic() + ttl_s)

    async def lock(self, name: str, ttl_s: float) -> bool:
        if name in self._locks:
            return False
        self._locks.add(name)
        return True

    async def unlock(self, name: str) -> None:
        self._locks.discard(name)

    async def drop(self, name: str, token: str) -> None:
        if self._tokens.get(name, ("",))[0] == token:
            del self._tokens[name]


class AccessToken:
    """`get()` the current token; `rejected(token)` when the platform said it is expired or revoked."""

    def __init__(self, name: str, fetch: Fetch, store: TokenStore, *, margin_s: float = 300,
                 wait_s: float = 10) -> None:  # fmt: skip
        self._name, self._fetch, self._store = name, fetch, store
        self._margin_s, self._wait_s = margin_s, wait_s
        self._local: tuple[str, float] | None = None  # saves a store round trip per send

    async def get(self) -> str:
        if self._local and self._local[1] > time.monotonic():
            return self._local[0]
        deadline = time.monotonic() + self._wait_s
        while True:
            stored = await self._store.read(self._name)
            if stored is not None:
                self._local = (stored[0], time.monotonic() + stored[1])
                return stored[0]
            if await self._store.lock(self._name, self._wait_s):
                return await self._refresh(locked=True)
            if time.monotonic() > deadline:  # the fetching process died or hangs: fetch ourselves
                return await self._refresh(locked=False)
            await asyncio.sleep(0.05)  # another process is fetching it

    async def rejected(self, token: str) -> None:
        self._local = None
        await self._store.drop(self._name, token)

    async def _refresh(self, *, locked: bool) -> str:
        try:
            token, expires_in = await self._fetch()
            ttl = max(1.0, expires_in - self._margin_s)
            await self._store.write(self._name, token, ttl)
            self._local = (token, time.monotonic() + ttl)
            return token
        finally:
            if locked:
                await self._store.unlock(self._name)
