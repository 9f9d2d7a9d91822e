"""The NLU stack the bot uses: Rasa first, keyword rules when Rasa is down or unsure, then the
structural layer (a forwarded notice or a 接龙 list is chatter whatever words it carries) and the
emergency layer (a present danger overrides everything). The rules (and the catalog they come
from) are swapped together with the model when a new version is activated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace

from bot.nlu.catalog import Catalog
from bot.nlu.port import Nlu, NluUnavailable, Parse
from bot.nlu.rules import RulesNlu, extract_entities

log = logging.getLogger(__name__)

# A forwarded notice or announcement (【停水通知】, [转发], 【温馨提示】) or a 接龙 list: group chatter,
# whatever incident words it carries. A resident's own bracketed header (【求助】, 【投诉】) is not one.
NOTICE = re.compile(
    r"^\s*(?:@所有人\s*)?(?:\[转发\]|转发[:：]|【[^】]{0,12}(?:通知|提示|提醒|公告|告知|宣传|倡议|预警|须知)[^】]{0,6}】|"
    r"#?\s*接龙|〔[^〕]*通知〕)|^\s*(?:\S+\s+)?#?接龙|"
    r"^\s*@所有人\s*(?:\S{0,12}\s*)?(?:请|注意|提醒|通知|各位|温馨|明天|今晚|今天|本周|下周|近期|即日起|为了|关于)"
)
CHATTER = "chitchat"
_NOT_HERE = re.compile(
    r"虚惊|误会|误报|谣言|搞错了|看错了|弄错了|没事了|没事的|不用报|别报了|已经过去了|过去了(?:那几天|总算)|总算过去|早就散了|"
    r"一切正常|外地|外省|外市|新闻|视频里|刷到|抖音|快手|听说(?:临|隔壁|别|外|有个)|不是(?:着火|困人|真的|咱(?:们)?(?:这|小区|村))"
)
_TICKET_REF = re.compile(r"#\s*\d{1,9}|\d{1,9}\s*号工单|工单\s*#?\s*\d{1,9}")


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
            fallback = notice(text, rules.parse_sync(text))
            return emergency(rules, text, not_here(text, fallback, rules.catalog.is_report))
        parsed = _with_structured_entities(text, parsed)
        if parsed.confidence < self.threshold:
            parsed = unsure(rules, text, parsed)
        return emergency(rules, text, not_here(text, notice(text, parsed), rules.catalog.is_report))

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
    return Parse(intent, fallback.confidence, parsed.entities, "rules", hint, ranking=parsed.ranking,
                 hint_confidence=parsed.hint_confidence)  # fmt: skip


def notice(text: str, parsed: Parse) -> Parse:
    """A forwarded notice or a 接龙 list is chatter (it still reaches the emergency layer)."""
    if parsed.intent == CHATTER or not NOTICE.search(text):
        return parsed
    return replace(parsed, intent=CHATTER, source="rules", report_hint=None)


def not_here(text: str, parsed: Parse, is_report: Callable[[str], bool]) -> Parse:
    """A report of something that is not a problem here and now (a false alarm explained, news from
    elsewhere, an all-clear) is chatter: no ticket for 那个食物中毒的是外地新闻."""
    if not is_report(parsed.intent) or not _NOT_HERE.search(text):
        return parsed
    return replace(parsed, intent=CHATTER, source="rules", report_hint=None)


def emergency(rules: RulesNlu, text: str, parsed: Parse) -> Parse:
    """The fast path: a present danger makes the message an urgent report, whatever the model said
    and in every conversation state; only a message about a named case (`#3 …`) stays what it is
    (the dialogue layer also keeps a worker's follow-up a follow-up)."""
    found = rules.emergency(text)
    if found is None or _TICKET_REF.search(text):
        return parsed
    intent = found.intent if rules.catalog.is_report(found.intent) else (parsed.report_hint or found.intent)
    return replace(parsed, intent=intent, confidence=1.0, source="emergency", report_hint=intent, urgent=True,
                   prior=parsed.intent, emergency=found.kind)  # fmt: skip


def _with_structured_entities(text: str, parsed: Parse) -> Parse:
    """Add regex entities (ticket id, phone …) that the model missed; never duplicate a kind it found."""
    have = {e.entity for e in parsed.entities}
    extra = tuple(e for e in extract_entities(text) if e.entity not in have)
    if not extra:
        return parsed
    merged = tuple(sorted(parsed.entities + extra, key=lambda e: e.start))
    return replace(parsed, entities=merged)
