"""Keyword/regex NLU from config/keywords.yaml: the fallback when Rasa is down or unsure.

Also extracts the structured entities that never need a model (ticket ids, phones,
buildings, units, rooms), so the fallback still knows `#12` and `3号楼`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.port import Entity, Parse

RULES_CONFIDENCE = 0.6

ENTITY_PATTERNS: dict[str, re.Pattern[str]] = {
    "ticket_id": re.compile(r"#\s*\d{1,9}|\d{1,9}\s*号工单|工单\s*#?\s*\d{1,9}"),
    "phone": re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),
    "building": re.compile(r"[0-9一二三四五六七八九十百]+\s*(?:#\s*楼|号楼|栋|幢|#(?=\d))"),
    "unit": re.compile(r"[0-9一二三四五六七八九十]+\s*单元"),
    "room": re.compile(r"(?<=单元)\s*\d{3,4}(?:室)?|\d{3,4}\s*室"),
}


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    intent: str
    keywords: tuple[str, ...]
    regexes: tuple[re.Pattern[str], ...]

    def hits(self, text: str) -> int:
        return sum(k in text for k in self.keywords) + sum(bool(r.search(text)) for r in self.regexes)


class RulesNlu:
    def __init__(self, rules: list[Rule], default_intent: str = "chitchat") -> None:
        self.rules = rules
        self.default_intent = default_intent

    @classmethod
    def from_file(cls, path: Path) -> RulesNlu:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls(parse_rules(data))
        except (OSError, yaml.YAMLError, re.error, KeyError, TypeError) as exc:
            raise RulesError(f"{path}: {exc}") from exc

    async def parse(self, text: str) -> Parse:
        return self.parse_sync(text)

    def parse_sync(self, text: str) -> Parse:
        best, best_hits = None, 0
        for rule in self.rules:
            hits = rule.hits(text)
            if hits > best_hits:
                best, best_hits = rule, hits
        intent = best.intent if best else self.default_intent
        reports = [(r.hits(text), -i, r.intent) for i, r in enumerate(self.rules) if r.intent.startswith("report_")]
        top = max(reports, default=(0, 0, None))
        hint = top[2] if top[0] > 0 else None
        return Parse(intent, RULES_CONFIDENCE if best else 0.3, extract_entities(text), "rules", hint)

    async def ready(self) -> bool:
        return True


def parse_rules(data: Any) -> list[Rule]:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError("keywords file needs a `rules:` list")
    return [
        Rule(
            intent=str(r["intent"]),
            keywords=tuple(str(k) for k in r.get("keywords") or ()),
            regexes=tuple(re.compile(str(x)) for x in r.get("regexes") or ()),
        )
        for r in data["rules"]
    ]


def extract_entities(text: str) -> tuple[Entity, ...]:
    found = [
        Entity(name, m.start(), m.end(), m.group(0).strip())
        for name, pattern in ENTITY_PATTERNS.items()
        for m in pattern.finditer(text)
    ]
    return tuple(sorted(found, key=lambda e: e.start))
