"""The message route's fast path (bot/fastpath.py) answers exactly what the FastAPI route answers:
every request below gets the same status and body with the fast path as without it, and a valid
message is answered by the fast path itself, behind the HTTP edge's guards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import fastpath
from tests.inproc import TOKEN, InProcessBot

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}
URL = "/api/v1/chats/yg-1/messages"
REQUESTS: list[tuple[str, dict[str, str], bytes]] = [
    (URL, JSON, '{"sender": "张阿姨", "text": "大家早上好"}'.encode()),
    (URL, JSON, '{"sender": "张阿姨", "text": "3号楼楼道的灯坏了", "client_id": "c-1"}'.encode()),
    (URL, JSON, '{"sender": "张阿姨", "text": "3号楼楼道的灯坏了", "client_id": "c-1"}'.encode()),  # a retry
    (URL, {"Content-Type": "application/json"}, b'{"sender": "a", "text": "hi"}'),  # no token
    (URL, {"Authorization": "Bearer nope", "Content-Type": "application/json"}, b'{"sender": "a", "text": "x"}'),
    (URL, {"Authorization": f"Basic {TOKEN}"}, b'{"sender": "a", "text": "x"}'),
    (URL, JSON, b'{"sender": "a", "text": '),  # malformed
    (URL, JSON, b'{"text": "no sender"}'),
    (URL, JSON, '{"sender": "   ", "text": "空名字"}'.encode()),
    (URL, JSON, '{"sender": "网格通", "text": "冒充机器人"}'.encode()),  # reserved
    (URL, JSON, b'{"sender": "a", "text": "' + "长".encode() * 2001 + b'"}'),  # too long
    ("/api/v1/chats/no-such-chat/messages", JSON, b'{"sender": "a", "text": "hi"}'),
    (URL, {**AUTH, "Content-Type": "text/plain"}, b'{"sender": "a", "text": "not json by type"}'),
    (URL, JSON, b'{"sender": "a", "text": "\\u0000nul"}'),
    (URL, JSON, b'\xff\xfe{"sender": "a"}'),  # not UTF-8
    (URL, JSON, b'{"sender": "a", "text": "x", "attachments": [{"kind": "image"}]}'),
    (URL, JSON, b'{"sender": "a", "text": "x", "reply_to": -3}'),
    (URL, JSON, b"[]"),
]


def answers(bot: InProcessBot) -> list[tuple[int, Any]]:
    client = bot.client()
    out = []
    for url, headers, body in REQUESTS:
        response = client.post(url, headers=headers, content=body)
        out.append((response.status_code, _comparable(response)))
    return out


def _comparable(response: httpx.Response) -> Any:
    data = response.json()
    if isinstance(data, dict) and "replies" in data:  # ids differ between the two bots
        return [re.sub(r"#\d+", "#N", r["text"]) for r in data["replies"]]
    return data


@pytest.fixture
def bots(tmp_path: Path) -> Iterator[tuple[InProcessBot, InProcessBot]]:
    fast = InProcessBot(tmp_path / "fast")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fastpath, "PATH", re.compile(r"(?!)"))  # never matches: FastAPI answers all
            slow = InProcessBot(tmp_path / "slow")
        yield fast, slow
        slow.close()
    finally:
        fast.close()


def test_the_fast_path_answers_every_request_as_the_route_does(
    bots: tuple[InProcessBot, InProcessBot], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = bots
    answered: list[str] = []
    real = fastpath.answer_message

    async def counting(services: Any, chat_id: str, body: Any) -> Any:
        answered.append(body.text)
        return await real(services, chat_id, body)

    monkeypatch.setattr(fastpath, "answer_message", counting)
    with_fast_path = answers(fast)
    assert answered[:3] == ["大家早上好", "3号楼楼道的灯坏了", "3号楼楼道的灯坏了"]  # taken by the fast path
    monkeypatch.setattr(fastpath, "PATH", re.compile(r"(?!)"))
    assert answers(slow) == with_fast_path
    statuses = [status for status, _ in with_fast_path]
    assert statuses[:3] == [201, 201, 201] and 500 not in statuses
    assert statuses[3:6] == [401, 401, 401] and statuses[11] == 404 and statuses[12] == 422


def test_a_fast_path_answer_carries_the_edge_headers(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path)
    try:
        response = bot.client().post(URL, headers={**JSON, "X-Request-Id": "r-42"},
                                     content='{"sender": "张阿姨", "text": "谢谢"}'.encode())  # fmt: skip
        assert response.status_code == 201
        assert response.headers["x-request-id"] == "r-42"
        assert response.headers["x-frame-options"] == "DENY" and "content-security-policy" in response.headers
        assert response.headers["server-timing"].startswith("nlu;dur=")
    finally:
        bot.close()
