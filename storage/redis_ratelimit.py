"""Send limits shared by every bot process through Redis (Telegram: ~20 messages/minute per group,
30/s overall). A sliding-window log per chat and one overall, checked and taken atomically in one
Lua script on Redis's own clock, so processes on different machines agree."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

# KEYS: chat window, overall window. ARGV: chat limit, chat span ms, overall limit, overall span ms, member.
# Returns 0 (slot taken) or the milliseconds to wait (nothing taken).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, 2 do
  local limit, span = tonumber(ARGV[i * 2 - 1]), tonumber(ARGV[i * 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - span)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + span - now)
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[i], ARGV[i * 2])
end
return 0
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, name: str, per_chat: int, per_chat_window_s: float, overall: int,
                 overall_window_s: float, namespace: str = "gridbot") -> None:  # fmt: skip
        self._redis = redis
        self._prefix = f"{namespace}:ratelimit:{name}"
        self._args = (per_chat, int(per_chat_window_s * 1000), overall, int(overall_window_s * 1000))
        self._script = redis.register_script(_TAKE)

    async def take(self, chat: str) -> float:
        """Take a slot (returns 0) or say how many seconds to wait (takes nothing)."""
        keys = [f"{self._prefix}:chat:{chat}", f"{self._prefix}:all"]
        waited = await self._script(keys=keys, args=[*self._args, uuid.uuid4().hex])
        return int(waited) / 1000

    async def wait(self, chat: str) -> None:
        while (pause := await self.take(chat)) > 0:  # noqa: ASYNC110 - sleeping until a slot frees is the point
            await asyncio.sleep(pause)
