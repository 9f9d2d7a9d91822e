"""Scheduler leader election through a Redis lease (SET NX PX, renewed by the holder).

With several bot processes exactly one runs escalation jobs. A holder that dies stops
renewing and the lease passes to another process after `ttl_ms`. Jobs stay idempotent
anyway (clock tokens), so a brief overlap during hand-over cannot double-fire a step.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

# Renew only if we still hold it; take it if free. Returns 1 when we are the leader.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeader:
    def __init__(self, redis: Redis, key: str = "gridbot:scheduler-leader", ttl_ms: int = 30_000) -> None:
        self._redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        self.identity = uuid.uuid4().hex

    async def is_leader(self) -> bool:
        result = await self._redis.eval(_ACQUIRE, 1, self.key, self.identity, str(self.ttl_ms))
        return bool(result == 1)

    async def resign(self) -> None:
        await self._redis.eval(_RELEASE, 1, self.key, self.identity)
