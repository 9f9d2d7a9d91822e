"""A tiny HTTP client for the bot's API v1, used by the end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import API_TOKEN


class Api:
    def __init__(self, base_url: str, token: str = API_TOKEN) -> None:
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def say(self, chat: str, sender: str, text: str, reply_to: int | None = None, client_id: str | None = None) -> Any:
        body = {"sender": sender, "text": text, "reply_to": reply_to, "client_id": client_id}
        response = self.http.post(f"/chats/{chat}/messages", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def ticket(self, ticket_id: int) -> Any:
        response = self.http.get(f"/tickets/{ticket_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def inbox(self, person: str) -> list[Any]:
        return list(self.http.get(f"/people/{person}/inbox").json()["messages"])

    def chat(self, chat: str, after: int = 0) -> list[Any]:
        return list(self.http.get(f"/chats/{chat}/messages", params={"after": after}).json()["messages"])


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
