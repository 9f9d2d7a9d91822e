"""Replay protection for signed platform callbacks (WeChat Official Account, WeCom).

A callback is signed over (token, timestamp, nonce[, ciphertext]) and refused when its timestamp is
further off than the replay window. Inside the window the same signed (timestamp, nonce) could be
sent again: in the Official Account's plain mode the signature does not cover the body at all, so
one captured query string carried any body (a bind, a report). So every admitted callback leaves
its (timestamp, nonce) in a `NonceStore` for as long as that timestamp stays acceptable, with a
fingerprint of the body:

- the same (timestamp, nonce) with another body is a replay: 403, nothing is parsed;
- the same (timestamp, nonce) with the very same body is let through: WeChat resends a callback it
  got no answer to with every byte identical (the docs say to dedupe on MsgId, and the adapters do),
  and refusing that retry would show the resident "该公众号暂时无法提供服务" for a network hiccup.
  What it carries was already admitted once, and its MsgId makes it change nothing.

The store is Redis when `GRIDBOT_REDIS_URL` is set (every bot process sees every nonce), else this
process's memory (the single-process default), like the access tokens and send limits.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol

from bot.errors import ApiError


class NonceStore(Protocol):
    async def remember(self, key: str, fingerprint: str, ttl_s: float) -> str:
        """Keep `fingerprint` under `key` for `ttl_s` unless the key is already held; return what
        the key holds now (`fingerprint` itself when this call stored it)."""
        ...


class MemoryNonceStore:
    """One process: a dict with expiry times, swept of expired keys as it grows."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._held: dict[str, tuple[str, float]] = {}
        self._clock = clock
        self._sweep_at = 1024

    async def remember(self, key: str, fingerprint: str, ttl_s: float) -> str:
        now = self._clock()
        held = self._held.get(key)
        if held is not None and held[1] > now:
            return held[0]
        self._held[key] = (fingerprint, now + ttl_s)
        if len(self._held) >= self._sweep_at:
            self._held = {k: v for k, v in self._held.items() if v[1] > now}
            self._sweep_at = max(1024, 2 * len(self._held))
        return fingerprint


class ReplayGuard:
    """`admit` a callback whose signature and timestamp were checked already (nothing unsigned
    ever reaches the store). `window_s` 0 turns it off, as it turns the timestamp check off."""

    def __init__(self, scope: str, window_s: int, store: NonceStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._scope, self._window_s = scope, window_s
        self._store = store or MemoryNonceStore()
        self._clock = clock

    async def admit(self, timestamp: str, nonce: str, body: bytes) -> None:
        if not self._window_s:
            return
        key = hashlib.sha256(f"{self._scope}\n{timestamp}\n{nonce}".encode()).hexdigest()[:40]
        fingerprint = hashlib.sha256(body).hexdigest()
        stamp = int(timestamp) if timestamp.isdigit() else self._clock()
        ttl_s = max(1.0, stamp + self._window_s - self._clock() + 1)  # as long as the timestamp is accepted
        if await self._store.remember(key, fingerprint, ttl_s) != fingerprint:
            raise ApiError(403, "请求已被使用过 / replayed callback: this nonce came with another body")
