"""Platform access tokens in real Redis are shared: two processes (two `AccessToken`s on their own
clients) fetch the token once between them, and a rejection drops only the token it names."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from bot.tokens import AccessToken, MemoryTokenStore
from storage.redis_tokens import RedisTokenStore
from tests.conftest import REDIS


class Platform:
    """Hands out token-1, token-2 …; every fetch retires the previous token, as WeChat does."""

    def __init__(self) -> None:
        self.fetches = 0

    async def fetch(self) -> tuple[str, int]:
        self.fetches += 1
        await asyncio.sleep(0.2)  # the other process asks meanwhile
        return f"token-{self.fetches}", 7200


async def test_two_processes_fetch_the_token_once_and_share_it(redis: Redis) -> None:
    name, platform = f"test-{uuid.uuid4().hex[:8]}", Platform()
    other = Redis.from_url(REDIS)  # the second process's own connection
    try:
        one = AccessToken(name, platform.fetch, RedisTokenStore(redis))
        two = AccessToken(name, platform.fetch, RedisTokenStore(other))
        assert await asyncio.gather(one.get(), two.get(), one.get()) == ["token-1"] * 3
        assert platform.fetches == 1
        assert 7200 - 300 - 5 < await redis.pttl(f"gridbot:token:{name}") / 1000 <= 7200 - 300  # renewed early

        await two.rejected("token-1")  # the platform refused it: the next get fetches a new one, once
        assert await asyncio.gather(two.get(), one.get()) == ["token-2", "token-1"]  # one still holds its copy
        await one.rejected("token-1")  # a late rejection of the old token keeps the new one
        assert await one.get() == "token-2" and platform.fetches == 2
    finally:
        await redis.delete(f"gridbot:token:{name}")
        await other.aclose()


async def test_a_dead_fetcher_holds_the_others_up_only_until_the_wait_runs_out() -> None:
    store, platform = MemoryTokenStore(), Platform()
    assert await store.lock("wx", 60)  # a process took the lock and died
    token = AccessToken("wx", platform.fetch, store, wait_s=0.3)
    assert await token.get() == "token-1" and platform.fetches == 1
