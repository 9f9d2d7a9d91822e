"""From an NLU parse and who is speaking to the action the bot takes. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.nlu.port import Parse
from tickets.directory import Person, Role

WORKER_INTENTS = frozenset({"worker_accept", "worker_progress", "worker_resolve", "escalate_request"})
RESIDENT_INTENTS = frozenset({"confirm_resolved", "reject_resolution", "ask_status", "cancel_report", "consult"})

_NOISE = re.compile(r"[\s，,。.!！~～、👍🙏😊]+|谢谢|感谢|了|啦|哈|呀|啊")
_WORD_RATINGS = {"非常满意": 5, "很满意": 5, "满意": 5, "基本满意": 3, "一般": 3, "还行": 3,
                 "不满意": 1, "很不满意": 1, "非常不满意": 1}  # fmt: skip
_NUMBER_RATING = re.compile(r"^([1-5一二三四五])(?:分|星)?$")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_ACK = re.compile(r"^(收到|好的?|OK|ok|马上(去|到|处理)?|这就去|我来|我去看看|明白)[!！。.~～]*$")
_TICKET_REF = re.compile(r"#\s*(\d{1,9})|(\d{1,9})\s*号工单|工单\s*#?\s*(\d{1,9})")


def parse_rating(text: str) -> int | None:
    """A short rating answer: `5`, `4分`, `五星`, `满意`, `基本满意`, `不满意` (thanks and emoji allowed)."""
    core = _NOISE.sub("", text)
    if core in _WORD_RATINGS:
        return _WORD_RATINGS[core]
    match = _NUMBER_RATING.match(core)
    if match:
        digit = match.group(1)
        return _CN_DIGITS.get(digit) or int(digit)
    return None


def ticket_ref(parse: Parse, text: str) -> int | None:
    for value in [*parse.values("ticket_id"), text]:
        match = _TICKET_REF.search(value)
        if match:
            return int(next(g for g in match.groups() if g))
    return None


def is_staff(person: Person | None) -> bool:
    return person is not None and person.role in (Role.WORKER, Role.OFFICER, Role.ADMIN)


def route(
    parse: Parse,
    text: str,
    sender: Person | None,
    replies_to_ticket: bool,
    is_report: Callable[[str], bool] = lambda intent: intent.startswith("report_"),
) -> str:
    """The handler key for this message; `ignore` means stay silent (chitchat, `other`, noise)."""
    intent = parse.intent
    if is_staff(sender):
        if intent in WORKER_INTENTS:
            return intent
        if replies_to_ticket and _ACK.match(text.strip()):
            return "worker_accept"  # 收到 replying to the bot's ticket post
        if is_report(intent):
            return "report"
        return "ignore"
    if parse_rating(text) is not None:
        return "rate"
    if is_report(intent):
        return "report"
    if intent in RESIDENT_INTENTS:
        return intent
    return "ignore"
