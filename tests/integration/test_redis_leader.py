"""Scheduler leader election on a real Redis."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from storage.redis_leader import RedisLeader


async def test_exactly_one_leader_and_hand_over_on_resign(redis: Redis) -> None:
    key = f"gridbot:test-leader:{uuid.uuid4().hex}"
    a, b, c = (RedisLeader(redis, key, ttl_ms=5_000) for _ in range(3))
    results = await asyncio.gather(*(x.is_leader() for x in (a, b, c)))
    assert sum(results) == 1
    leader = [a, b, c][results.index(True)]
    assert await leader.is_leader()  # renewing keeps it
    await leader.resign()
    others = [x for x in (a, b, c) if x is not leader]
    assert sum(await asyncio.gather(*(x.is_leader() for x in others))) == 1
    await redis.delete(key)


async def test_a_dead_leader_loses_the_lease_after_its_ttl(redis: Redis) -> None:
    key = f"gridbot:test-leader:{uuid.uuid4().hex}"
    dead, alive = RedisLeader(redis, key, ttl_ms=300), RedisLeader(redis, key, ttl_ms=300)
    assert await dead.is_leader()
    assert not await alive.is_leader()
    await asyncio.sleep(0.5)  # the dead one never renews
    assert await alive.is_leader()
    assert not await dead.is_leader()
    await redis.delete(key)
