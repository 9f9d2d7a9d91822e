"""Keyword/regex NLU from the intent files: the fallback when Rasa is down or unsure.

Also extracts the structured entities that never need a model (ticket ids, phones,
buildings, units, rooms), so the fallback still knows `#12` and `3号楼`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.nlu.catalog import Catalog, IntentSpec
from bot.nlu.emergency import Emergency, EmergencyDetector
from bot.nlu.port import Entity, Parse

RULES_CONFIDENCE = 0.6

ENTITY_PATTERNS: dict[str, re.Pattern[str]] = {
    "ticket_id": re.compile(r"#\s*\d{1,9}|\d{1,9}\s*号工单|工单\s*#?\s*\d{1,9}"),
    "phone": re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),
    "building": re.compile(r"[0-9一二三四五六七八九十百]+\s*(?:#\s*楼|号楼|栋|幢|#(?=\d))"),
    "unit": re.compile(r"[0-9一二三四五六七八九十]+\s*单元"),
    "room": re.compile(r"(?<=单元)\s*\d{3,4}(?:室)?|\d{3,4}\s*室"),
}


@dataclass(frozen=True)
class Rule:
    intent: str
    keywords: tuple[str, ...]
    regexes: tuple[re.Pattern[str], ...]

    def hits(self, text: str) -> int:
        return sum(k in text for k in self.keywords) + sum(bool(r.search(text)) for r in self.regexes)

    @classmethod
    def of(cls, spec: IntentSpec) -> Rule:
        variants = [v for values in spec.synonyms.values() for v in values]
        keywords = tuple(dict.fromkeys([*spec.keywords, *variants]))
        return cls(spec.intent, keywords, tuple(re.compile(r) for r in spec.regexes))


class RulesNlu:
    """Keyword votes from the intent files; the intent with most hits wins, ties go to the lower priority."""

    def __init__(self, catalog: Catalog, default_intent: str = "chitchat") -> None:
        self.catalog = catalog
        self.rules = [Rule.of(spec) for spec in catalog.ordered()]
        self.default_intent = default_intent
        phrases = {spec.intent: spec.emergency for spec in catalog.ordered() if spec.emergency}
        reports = [spec.intent for spec in catalog.ordered() if spec.is_report]
        self.detector = EmergencyDetector(phrases, reports)

    async def parse(self, text: str) -> Parse:
        return self.parse_sync(text)

    def parse_sync(self, text: str) -> Parse:
        counted = [(rule.hits(text), rule) for rule in self.rules]  # each rule counted once
        best, best_hits = None, 0
        for hits, rule in counted:
            if hits > best_hits:
                best, best_hits = rule, hits
        intent = best.intent if best else self.default_intent
        reports = [(n, -i, r.intent) for i, (n, r) in enumerate(counted) if self.catalog.is_report(r.intent)]
        top = max(reports, default=(0, 0, None))
        hint = top[2] if top[0] > 0 else None
        return Parse(intent, RULES_CONFIDENCE if best else 0.3, extract_entities(text), "rules", hint)

    def emergency(self, text: str) -> Emergency | None:
        """A present danger to people in the text (see bot/nlu/emergency.py), with the intent it opens."""
        return self.detector.detect(text)

    async def ready(self) -> bool:
        return True


def extract_entities(text: str) -> tuple[Entity, ...]:
    found = [
        Entity(name, m.start(), m.end(), m.group(0).strip())
        for name, pattern in ENTITY_PATTERNS.items()
        for m in pattern.finditer(text)
    ]
    return tuple(sorted(found, key=lambda e: e.start))
