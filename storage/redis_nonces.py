"""Callback nonces in Redis, shared by every bot process (see bot/replay.py): a (timestamp, nonce)
admitted by one process is known to all of them for as long as its timestamp is accepted."""

from __future__ import annotations

from redis.asyncio import Redis

# KEYS: the nonce. ARGV: the body's fingerprint, the time to keep it (ms). Returns what the key holds.
_REMEMBER = """
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""


class RedisNonceStore:
    def __init__(self, redis: Redis, prefix: str = "gridbot:nonce") -> None:
        self._prefix = prefix
        self._script = redis.register_script(_REMEMBER)

    async def remember(self, key: str, fingerprint: str, ttl_s: float) -> str:
        held = await self._script(keys=[f"{self._prefix}:{key}"], args=[fingerprint, max(1, int(ttl_s * 1000))])
        return held.decode() if isinstance(held, bytes) else str(held)
