"""Send limits in real Redis are shared: two limiters (two bot processes) draw from one window."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from storage.redis_ratelimit import RedisRateLimiter


async def test_two_processes_share_the_per_chat_and_overall_windows(redis: Redis) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    one, two = (RedisRateLimiter(redis, name, 3, 1.0, 5, 1.0) for _ in range(2))
    assert [await one.take("g1"), await two.take("g1"), await one.take("g1")] == [0, 0, 0]
    pause = await two.take("g1")  # the 4th in a second for this chat, whichever process asks
    assert 0 < pause <= 1.0
    assert [await two.take("g2"), await one.take("g2")] == [0, 0]  # another chat, same overall window
    assert await one.take("g3") > 0  # 5 overall used up
    started = time.monotonic()
    await two.wait("g1")  # sleeps until the window frees, then takes the slot
    assert 0.3 < time.monotonic() - started < 1.5
