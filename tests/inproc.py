"""The whole bot in this process: the real composition (`run_bot.running`: dispatcher, handlers, case
service, escalation engine, outbox, HTTP app) on SQLite, the keyword-rules NLU with the emergency
layer (no Rasa), and a clock the test advances. No sockets: requests go to the ASGI app directly.

It quacks like `tests.e2e.helpers.Api` (an `http` client plus `ticket`/`inbox`), so the YAML
conversation scripts run on it unchanged; `advance(seconds)` moves the clock and fires what fell due.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from bot.nlu.chain import FallbackNlu
from bot.nlu.port import Parse
from bot.nlu.rules import RulesNlu, extract_entities
from config.settings import Settings
from run_bot import running
from tests.e2e.helpers import Api

T = TypeVar("T")
TOKEN = "inproc-token"
THRESHOLD = Settings.model_fields["nlu_threshold"].default
START = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Beijing: a workday, no quiet hours


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class WallClock(Clock):
    """The real time: for tests that measure how soon something reaches a platform's fake (the
    channel adapters compare stored times with the wall clock). Use a policy without quiet hours."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


class ScriptedNlu:
    """The model's reading, written in the script (`nlu: {text: intent}`, or `{intent, confidence,
    hint, hint_confidence}` for an unsure model); other texts go to the keyword rules. The stack
    around it (threshold, notices, the emergency layer) is the real one."""

    def __init__(self, readings: Mapping[str, Any], rules: RulesNlu) -> None:
        self._readings = readings
        self._rules = rules

    async def parse(self, text: str) -> Parse:
        reading = self._readings.get(text.strip())
        if reading is None:
            return self._rules.parse_sync(text)
        spec = reading if isinstance(reading, dict) else {"intent": reading}
        intent = str(spec["intent"])
        hint = spec.get("hint") or (intent if self._rules.catalog.is_report(intent) else None)
        confidence = float(spec.get("confidence", 0.95))
        hint_confidence = float(spec.get("hint_confidence", confidence if hint == intent else 0.0))
        ranking = (intent, *([hint] if hint and hint != intent else []))
        return Parse(intent, confidence, extract_entities(text), "scripted", hint, ranking=ranking,
                     hint_confidence=hint_confidence)  # fmt: skip

    async def ready(self) -> bool:
        return True


class _LoopTransport(httpx.BaseTransport):
    """A sync httpx transport that runs each request on the bot's own event loop (another thread)."""

    def __init__(self, app: FastAPI, bot: InProcessBot, address: str = "127.0.0.1") -> None:
        self._inner = httpx.ASGITransport(app=app, client=(address, 123))
        self._bot = bot

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def go() -> tuple[int, httpx.Headers, bytes]:
            copy = httpx.Request(request.method, request.url, headers=request.headers, content=request.read())
            response = await self._inner.handle_async_request(copy)
            return response.status_code, response.headers, await response.aread()

        status, headers, body = self._bot.run(go())
        return httpx.Response(status, headers=headers, content=body)


class InProcessBot(Api):
    """`Api`'s calls (`say`, `ticket`, `inbox`, `chat`) on the in-process app, plus `advance`."""

    def __init__(
        self, tmp_path: Path, readings: Mapping[str, Any] | None = None, clock: Clock | None = None, **env: str
    ) -> None:
        self.clock = clock or Clock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="inproc-bot", daemon=True)
        self._thread.start()
        defaults: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'bot.db'}", "var_dir": tmp_path / "var", "nlu": "rules",
            "api_token": TOKEN, "audit_interval_s": 3600, "outbox_interval_s": 0.2, "demo": True,
        }  # fmt: skip
        settings = Settings(**{**defaults, **{k.removeprefix("GRIDBOT_").lower(): v for k, v in env.items()}})
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self.app: FastAPI = self.run(self._stack.enter_async_context(running(settings, self.clock)))
        nlu: FallbackNlu = self.app.state.nlu
        if readings:
            nlu.primary, nlu.threshold = ScriptedNlu(readings, nlu.rules), THRESHOLD
        self.http = httpx.Client(
            transport=_LoopTransport(self.app, self), base_url="http://bot/api/v1",
            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
        )  # fmt: skip

    def client(self, base_url: str = "http://bot", address: str = "127.0.0.1", **kwargs: Any) -> httpx.Client:
        """Another client of the whole in-process app (web chat, webhooks, the admin web), without the
        API token, seen as coming from `address`."""
        transport = _LoopTransport(self.app, self, address)
        return httpx.Client(transport=transport, base_url=base_url, timeout=30, **kwargs)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    def advance(self, seconds: float) -> int:
        """Move the clock on and fire every step that fell due (the audit the scheduler runs)."""
        self.clock.now += timedelta(seconds=seconds)
        return int(self.run(self.app.state.audit()))

    def close(self) -> None:
        self.http.close()
        self.run(self._stack.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
