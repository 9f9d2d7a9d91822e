"""Platform access tokens in Redis, shared by every bot process (see bot/tokens.py)."""

from __future__ import annotations

from redis.asyncio import Redis

# KEYS: the token. ARGV: the token the caller was refused with. Deletes only that same token.
_DROP_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTokenStore:
    def __init__(self, redis: Redis, prefix: str = "gridbot:token") -> None:
        self._redis = redis
        self._prefix = prefix
        self._drop = redis.register_script(_DROP_IF_SAME)

    async def read(self, name: str) -> tuple[str, float] | None:
        key = f"{self._prefix}:{name}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            token, ttl_ms = await pipe.execute()
        if token is None or ttl_ms <= 0:
            return None
        return (token.decode() if isinstance(token, bytes) else str(token)), ttl_ms / 1000

    async def write(self, name: str, token: str, ttl_s: float) -> None:
        await self._redis.set(f"{self._prefix}:{name}", token, px=int(ttl_s * 1000))

    async def lock(self, name: str, ttl_s: float) -> bool:
        return bool(await self._redis.set(f"{self._prefix}:{name}:lock", "1", nx=True, px=int(ttl_s * 1000)))

    async def unlock(self, name: str) -> None:
        await self._redis.delete(f"{self._prefix}:{name}:lock")

    async def drop(self, name: str, token: str) -> None:
        await self._drop(keys=[f"{self._prefix}:{name}"], args=[token])
