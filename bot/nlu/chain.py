"""The NLU stack the bot uses: Rasa first, keyword rules when Rasa is down or unsure, and an
emergency layer after both. The rules (and the catalog they come from) are swapped together
with the model when a new version is activated.
"""

from __future__ import annotations

import logging

from bot.nlu.catalog import Catalog
from bot.nlu.port import Nlu, NluUnavailable, Parse
from bot.nlu.rules import RulesNlu, extract_entities

log = logging.getLogger(__name__)

# Follow-ups about an existing case: an emergency word in them ("着火点已扑灭") is not a new report.
FOLLOW_UPS = frozenset({"ask_status", "cancel_report", "worker_accept", "worker_progress", "worker_resolve",
                        "escalate_request", "confirm_resolved", "reject_resolution"})  # fmt: skip


class FallbackNlu:
    def __init__(self, primary: Nlu, rules: RulesNlu, threshold: float) -> None:
        self.primary = primary
        self.rules = rules
        self.threshold = threshold

    @property
    def catalog(self) -> Catalog:
        return self.rules.catalog

    def use(self, rules: RulesNlu) -> None:
        """Switch to the rules of a newly activated version (one attribute store: atomic for readers)."""
        self.rules = rules

    async def parse(self, text: str) -> Parse:
        rules = self.rules
        try:
            parsed = await self.primary.parse(text)
        except NluUnavailable as exc:
            log.warning("NLU primary unavailable, using keyword rules: %s", exc)
            return emergency(rules, text, rules.parse_sync(text))
        parsed = _with_structured_entities(text, parsed)
        if parsed.confidence < self.threshold:
            parsed = unsure(rules, text, parsed)
        return emergency(rules, text, parsed)

    async def ready(self) -> bool:
        return await self.primary.ready()


def unsure(rules: RulesNlu, text: str, parsed: Parse) -> Parse:
    """Rasa is unsure: the keyword rules decide (no keyword hit = chitchat, so no ticket), but a
    keyword report only counts when the model also ranks that type among its top intents: a
    policy complaint that mentions 工资 is not a wage dispute unless the model sees one too.
    Measured on ../shared/eval/dev.csv: ticket F1 0.870 → 0.881, held-out 0.954 → 0.954."""
    fallback = rules.parse_sync(text)
    intent = fallback.intent
    vetoed = rules.catalog.is_report(intent) and parsed.ranking and intent not in parsed.ranking
    if vetoed and not rules.catalog.is_report(parsed.intent):
        intent = parsed.intent
    hint = fallback.report_hint or parsed.report_hint
    return Parse(intent, fallback.confidence, parsed.entities, "rules", hint)


def emergency(rules: RulesNlu, text: str, parsed: Parse) -> Parse:
    """The fast path: an emergency phrase makes any non-follow-up message an urgent report."""
    intent = rules.emergency(text)
    if intent is None or parsed.intent in FOLLOW_UPS:
        return parsed
    return Parse(intent, 1.0, parsed.entities, "emergency", intent, urgent=True)


def _with_structured_entities(text: str, parsed: Parse) -> Parse:
    """Add regex entities (ticket id, phone …) that the model missed; never duplicate a kind it found."""
    have = {e.entity for e in parsed.entities}
    extra = tuple(e for e in extract_entities(text) if e.entity not in have)
    if not extra:
        return parsed
    merged = tuple(sorted(parsed.entities + extra, key=lambda e: e.start))
    return Parse(parsed.intent, parsed.confidence, merged, parsed.source, parsed.report_hint, parsed.urgent)
