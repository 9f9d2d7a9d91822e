"""A local fake of the city platform's receiving end (12345, 接诉即办): a real HTTP server that records
every push (headers and raw body), answers 200 or the statuses it is told to (`fail(times, code)`,
`down()`), and can hang (`hang_s`) as a platform in trouble does. It verifies nothing itself: the
tests verify the signature as a receiver would (`bot.city_push.verify`)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any

from bot.city_push import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.fakes.http import FakeServer, JsonHandler

PATH = "/gridbot/events"


class FakeCityPlatform(FakeServer):
    def __init__(self) -> None:
        self.requests: list[tuple[int, dict[str, str], bytes]] = []  # (the status answered, headers, raw body)
        self.answers: deque[int] = deque()  # statuses to answer next, then `status`
        self.status = 200
        self.hang_s = 0.0
        self._lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return self.base + PATH

    def fail(self, times: int, code: int = 503) -> None:
        self.answers.extend([code] * times)

    def down(self, code: int = 503) -> None:
        self.status = code

    def up(self) -> None:
        self.status = 200

    def taken(self) -> list[tuple[dict[str, str], bytes]]:
        """The pushes it answered 2xx, in arrival order."""
        with self._lock:
            return [(h, b) for code, h, b in self.requests if 200 <= code < 300]

    def events(self, secret: bytes) -> list[dict[str, Any]]:
        """The bodies it took, each checked as a receiver checks it (signature, timestamp)."""
        out = []
        for headers, body in self.taken():
            assert verify(secret, body, headers[SIGNATURE_HEADER.lower()]), "signature does not verify"
            data = json.loads(body)
            assert str(data["sent_at"]) == headers[TIMESTAMP_HEADER.lower()]
            out.append(data)
        return out

    def wait_taken(self, n: int, timeout_s: float = 10) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.taken()) >= n:
                return self.taken()
            time.sleep(0.02)
        raise AssertionError(f"the platform took {len(self.taken())} pushes, not {n}, in {timeout_s}s")

    def _answer(self) -> int:
        with self._lock:
            return self.answers.popleft() if self.answers else self.status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                if platform.hang_s:
                    time.sleep(platform.hang_s)
                code = platform._answer() if self.path == PATH else 404
                with platform._lock:
                    platform.requests.append((code, {k.lower(): v for k, v in self.headers.items()}, body))
                with contextlib.suppress(ConnectionError):  # the pusher gave up on a hanging answer
                    self.reply_json({"ok": 200 <= code < 300}, code)

        return Handler
