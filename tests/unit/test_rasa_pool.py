"""Several Rasa servers: round robin, a failing one skipped for a while, unavailable only when all fail."""

from __future__ import annotations

from typing import Any

import pytest

from bot.nlu.port import NluUnavailable, Parse
from bot.nlu.rasa_client import RasaNlu, RasaPool, rasa_of


class Server:
    def __init__(self, name: str) -> None:
        self.name, self.up, self.calls = name, True, 0
        self.base_url = f"http://{name}"

    async def parse(self, text: str) -> Parse:
        self.calls += 1
        if not self.up:
            raise NluUnavailable(f"{self.name} down")
        return Parse(intent=self.name, confidence=1.0, source="rasa")


def pool(*servers: Server, clock: Any = None) -> RasaPool:
    return RasaPool(list(servers), cooldown_s=5.0, clock=clock or (lambda: 0.0))  # type: ignore[arg-type]


async def test_requests_alternate_between_servers() -> None:
    a, b = Server("a"), Server("b")
    p = pool(a, b)
    assert [(await p.parse("x")).intent for _ in range(4)] == ["a", "b", "a", "b"]


async def test_a_failing_server_is_skipped_until_its_cooldown_ends() -> None:
    now = [0.0]
    a, b = Server("a"), Server("b")
    p = pool(a, b, clock=lambda: now[0])
    a.up = False
    assert [(await p.parse("x")).intent for _ in range(4)] == ["b"] * 4
    assert a.calls == 1  # tried once, then left alone during the cooldown
    a.up, now[0] = True, 6.0
    assert {(await p.parse("x")).intent for _ in range(2)} == {"a", "b"}


async def test_unavailable_only_when_every_server_fails() -> None:
    a, b = Server("a"), Server("b")
    a.up = b.up = False
    with pytest.raises(NluUnavailable, match="every Rasa server failed"):
        await pool(a, b).parse("x")


def test_one_url_is_a_plain_client_several_are_a_pool() -> None:
    assert isinstance(rasa_of("http://a:5005", 1.0), RasaNlu)
    both = rasa_of("http://a:5005, http://b:5005", 1.0)
    assert isinstance(both, RasaPool) and both.base_url == "http://a:5005,http://b:5005"
