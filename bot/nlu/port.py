"""The NLU port: text in, intent + entities out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Entity:
    entity: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Parse:
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = field(default=())
    source: str = "rules"  # "rasa", "rules" or "emergency"
    report_hint: str | None = None  # the likeliest report intent, even when another one won
    urgent: bool = False  # an emergency phrase (着火, 煤气泄漏 …): open as urgent, ping every tier at once
    ranking: tuple[str, ...] = ()  # the model's top intents, best first (empty for the rules)
    hint_confidence: float = 0.0  # the model's confidence in `report_hint`
    prior: str = ""  # what the model read before the emergency layer overrode it
    emergency: str = ""  # the kind of danger the emergency layer found (fire, gas, trapped …)

    def values(self, name: str) -> list[str]:
        return [e.value for e in self.entities if e.entity == name]


class NluUnavailable(Exception):
    """The NLU backend could not answer (down, timed out, malformed reply)."""


class Nlu(Protocol):
    async def parse(self, text: str) -> Parse: ...

    async def ready(self) -> bool: ...
