"""Rasa over HTTP: `POST /model/parse` with a tight timeout, errors mapped to NluUnavailable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bot.nlu.port import Entity, NluUnavailable, Parse

HINT_MIN = 0.1  # a report type ranked below this is no hint at all
RANKING = 3  # how many of the model's top intents the keyword fallback may choose from


class RasaNlu:
    def __init__(self, base_url: str, timeout_s: float = 2.0, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def parse(self, text: str) -> Parse:
        try:
            response = await self._client.post(f"{self.base_url}/model/parse", json={"text": text})
            response.raise_for_status()
            return _to_parse(text, response.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise NluUnavailable(f"rasa at {self.base_url}: {exc!r}") from exc

    async def load_model(self, model: Path, timeout_s: float = 300.0) -> None:
        """Hot-swap the server's model (`PUT /model`); the server keeps answering with the old one until then."""
        try:
            response = await self._client.put(
                f"{self.base_url}/model", json={"model_file": str(model)}, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise NluUnavailable(f"rasa at {self.base_url}: loading {model.name} failed: {exc!r}") from exc
        if response.status_code != 204:
            raise NluUnavailable(
                f"rasa at {self.base_url}: loading {model.name}: {response.status_code} {response.text[:300]}"
            )

    async def ready(self) -> bool:
        try:
            response = await self._client.get(f"{self.base_url}/status")
            return response.status_code == 200 and bool(response.json().get("model_file"))
        except (httpx.HTTPError, ValueError):
            return False

    async def aclose(self) -> None:
        await self._client.aclose()


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
    hint = str(ranking[0]["name"]) if ranking and float(ranking[0].get("confidence") or 0) >= HINT_MIN else None
    top = tuple(str(r.get("name")) for r in (data.get("intent_ranking") or [])[:RANKING])
    return Parse(str(name), float(intent.get("confidence") or 0.0), _dedupe(entities), "rasa", hint, ranking=top)


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
