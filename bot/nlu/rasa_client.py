"""Rasa over HTTP: `POST /model/parse` with a tight timeout, errors mapped to NluUnavailable.

Every call carries the server's auth token (`rasa run --auth-token`, sent as Rasa wants it: the
`token` query parameter): without it anyone who reaches the port could `DELETE /model` or load
another model. Our own children get a fresh random token per start; external servers the one in
`GRIDBOT_NLU_TOKEN`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.nlu.http1 import HttpError, KeepAlivePool
from bot.nlu.port import Entity, NluUnavailable, Parse

HINT_MIN = 0.1  # a report type ranked below this is no hint at all
RANKING = 3  # how many of the model's top intents the keyword fallback may choose from


class RasaNlu:
    """`parse` goes over kept-alive raw HTTP/1.1 connections (bot/nlu/http1.py); the rare calls
    (model loading, status) over httpx."""

    def __init__(self, base_url: str, timeout_s: float = 2.0, client: httpx.AsyncClient | None = None,
                 token: str | None = None) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._params = {"token": token} if token else {}
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._pool = KeepAlivePool(self.base_url, query=urlencode(self._params))

    async def parse(self, text: str) -> Parse:
        try:
            status, body = await self._pool.post_json("/model/parse", _request(text), self._timeout_s)
            if status != 200:
                raise HttpError(f"status {status}: {body[:200]!r}")
            return _to_parse(text, json.loads(body))
        except (HttpError, TimeoutError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise NluUnavailable(f"rasa at {self.base_url}: {exc!r}") from exc

    async def load_model(self, model: Path, timeout_s: float = 300.0) -> None:
        """Hot-swap the server's model (`PUT /model`); the server keeps answering with the old one until then."""
        try:
            response = await self._client.put(
                f"{self.base_url}/model", params=self._params, json={"model_file": str(model)}, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise NluUnavailable(f"rasa at {self.base_url}: loading {model.name} failed: {exc!r}") from exc
        if response.status_code != 204:
            raise NluUnavailable(
                f"rasa at {self.base_url}: loading {model.name}: {response.status_code} {response.text[:300]}"
            )

    async def ready(self) -> bool:
        try:
            response = await self._client.get(f"{self.base_url}/status", params=self._params)
            return response.status_code == 200 and bool(response.json().get("model_file"))
        except (httpx.HTTPError, ValueError):
            return False

    async def aclose(self) -> None:
        await self._pool.aclose()
        await self._client.aclose()


def _request(text: str) -> bytes:
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def _to_parse(text: str, data: dict[str, Any]) -> Parse:
    intent = data.get("intent") or {}
    name = intent.get("name")
    if not name:
        raise ValueError("rasa reply without an intent")
    entities = tuple(
        Entity(str(e["entity"]), int(e["start"]), int(e["end"]), text[int(e["start"]) : int(e["end"])])
        for e in data.get("entities") or []
    )
    ranking = [r for r in data.get("intent_ranking") or [] if str(r.get("name", "")).startswith("report_")]
    hint_confidence = float(ranking[0].get("confidence") or 0) if ranking else 0.0
    hint = str(ranking[0]["name"]) if ranking and hint_confidence >= HINT_MIN else None
    top = tuple(str(r.get("name")) for r in (data.get("intent_ranking") or [])[:RANKING])
    confidence = float(intent.get("confidence") or 0.0)
    return Parse(str(name), confidence, _dedupe(entities), "rasa", hint, ranking=top, hint_confidence=hint_confidence)


def _dedupe(entities: tuple[Entity, ...]) -> tuple[Entity, ...]:
    """Several extractors may find the same span; keep the first of each (entity, start, end)."""
    seen: set[tuple[str, int, int]] = set()
    out = []
    for e in entities:
        key = (e.entity, e.start, e.end)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return tuple(out)


class RasaPool:
    """Several Rasa servers behind one NLU (`GRIDBOT_NLU_URL=http://a:5005,http://b:5005`): requests
    go round robin; a server that fails is skipped for `cooldown_s` while the others answer, and is
    tried again after that. Only when every server fails is the NLU unavailable (the keyword rules
    then answer, as with one server)."""

    def __init__(self, servers: list[RasaNlu], cooldown_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if not servers:
            raise ValueError("a pool needs at least one Rasa server")
        self.servers = servers
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._down_until = [0.0] * len(servers)
        self._next = 0

    @property
    def base_url(self) -> str:
        return ",".join(s.base_url for s in self.servers)

    def _order(self) -> list[int]:
        start, n = self._next, len(self.servers)
        self._next = (start + 1) % n
        now = self._clock()
        ring = [(start + i) % n for i in range(n)]
        return [i for i in ring if self._down_until[i] <= now] + [i for i in ring if self._down_until[i] > now]

    async def parse(self, text: str) -> Parse:
        errors = []
        for i in self._order():
            try:
                parsed = await self.servers[i].parse(text)
            except NluUnavailable as exc:
                self._down_until[i] = self._clock() + self._cooldown_s
                errors.append(str(exc))
                continue
            self._down_until[i] = 0.0
            return parsed
        raise NluUnavailable("every Rasa server failed: " + "; ".join(errors))

    async def load_model(self, model: Path, timeout_s: float = 300.0) -> None:
        """Every server loads the model (they must all answer with the same version)."""
        for server in self.servers:
            await server.load_model(model, timeout_s)

    async def ready(self) -> bool:
        return any([await s.ready() for s in self.servers])

    async def aclose(self) -> None:
        for server in self.servers:
            await server.aclose()


def rasa_of(urls: str, timeout_s: float, token: str | None = None) -> RasaNlu | RasaPool:
    """The servers of a comma-separated URL list, all with the same auth token."""
    return pool_of([RasaNlu(u.strip(), timeout_s, token=token) for u in urls.split(",") if u.strip()])


def pool_of(servers: list[RasaNlu]) -> RasaNlu | RasaPool:
    return servers[0] if len(servers) == 1 else RasaPool(servers)
