"""From an NLU parse and who is speaking to the action the bot takes. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

from bot.nlu.port import Parse
from tickets.directory import Person, Role


class Route(StrEnum):
    """Which handler acts on a message (`bot.handlers.build_registry` has one for each)."""

    REPORT = "report"
    WORKER_ACCEPT = "worker_accept"
    WORKER_PROGRESS = "worker_progress"
    WORKER_RESOLVE = "worker_resolve"
    ESCALATE_REQUEST = "escalate_request"
    WORKER_NOTE = "worker_note"
    MY_TICKETS = "my_tickets"
    CHECKIN = "checkin"
    REPORT_IN = "report_in"
    SUSPEND = "suspend"
    APPROVE_SUSPENSION = "approve_suspension"
    RESUME = "resume"
    RATE = "rate"
    CONFIRM_RESOLVED = "confirm_resolved"
    REJECT_RESOLUTION = "reject_resolution"
    CANCEL_REPORT = "cancel_report"
    ASK_STATUS = "ask_status"
    CONSULT = "consult"
    LOCATE = "locate"
    ATTACH = "attach"
    IGNORE = "ignore"


WORKER_INTENTS = frozenset({"worker_accept", "worker_progress", "worker_resolve", "escalate_request"})
RESIDENT_INTENTS = frozenset({"confirm_resolved", "reject_resolution", "ask_status", "cancel_report", "consult"})

_NOISE = re.compile(r"[\s，,。.!！~～、👍🙏😊]+|谢谢|感谢|了|啦|哈|呀|啊")
_WORD_RATINGS = {"非常满意": 5, "很满意": 5, "满意": 5, "基本满意": 3, "一般": 3, "还行": 3,
                 "不满意": 1, "很不满意": 1, "非常不满意": 1}  # fmt: skip
_NUMBER_RATING = re.compile(r"^([1-5一二三四五])(?:分|星)?$")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_ACK = re.compile(r"^(收到|好的?|OK|ok|马上(去|到|处理)?|这就去|我来|我去看看|明白)[!！。.~～]*$")
_TICKET_REF = re.compile(r"#\s*(\d{1,9})|(\d{1,9})\s*号工单|工单\s*#?\s*(\d{1,9})|^[/／]\S+?\s*#?(\d{1,9})")
_COMMAND = re.compile(r"^[/／]\s*(\S+?)(?:\s*#?\d{1,9})?(?:\s+.*)?$", re.S)
_CHECK_IN = re.compile(r"^[/／]?\s*(报平安|今日平安|网格平安|今天平安)")
_MY_TICKETS = re.compile(r"^[/／]?\s*(我的工单|我的任务|待办工单)[?？。!！]*$")

# Short commands for busy workers: `/接单 12`, `/进展 12 已联系师傅`, `/已处理 12`, `/吹哨 12 需要城管`.
COMMANDS = {
    "接单": Route.WORKER_ACCEPT, "受理": Route.WORKER_ACCEPT,
    "进展": Route.WORKER_PROGRESS, "进度": Route.WORKER_PROGRESS,
    "已处理": Route.WORKER_RESOLVE, "处理": Route.WORKER_RESOLVE,
    "办结": Route.WORKER_RESOLVE, "完成": Route.WORKER_RESOLVE,
    "吹哨": Route.ESCALATE_REQUEST, "上报": Route.ESCALATE_REQUEST,
    "我的工单": Route.MY_TICKETS,
    "报到": Route.REPORT_IN,
    "挂账": Route.SUSPEND, "申请挂账": Route.SUSPEND,
    "同意挂账": Route.APPROVE_SUSPENSION, "批准挂账": Route.APPROVE_SUSPENSION,
    "解除挂账": Route.RESUME, "恢复办理": Route.RESUME, "恢复": Route.RESUME,
}  # fmt: skip
# 吹哨报到 and 挂账 said in words about a named case (`#12 报到`, replying `同意挂账` to the post).
_GOVERNANCE = re.compile(r"(同意挂账|批准挂账|解除挂账|恢复办理|申请挂账|挂账|报到)")
GOVERNANCE_KEYS = frozenset({Route.REPORT_IN, Route.SUSPEND, Route.APPROVE_SUSPENSION, Route.RESUME})


def parse_rating(text: str) -> int | None:
    """A short rating answer: `5`, `4分`, `五星`, `满意`, `基本满意`, `不满意` (thanks, emoji and a
    ticket number allowed: `#12 4分`)."""
    core = _NOISE.sub("", _TICKET_REF.sub("", text))
    if core in _WORD_RATINGS:
        return _WORD_RATINGS[core]
    match = _NUMBER_RATING.match(core)
    if match:
        digit = match.group(1)
        return _CN_DIGITS.get(digit) or int(digit)
    return None


def command(text: str) -> Route | None:
    """The route key of a slash command (`/接单 12`) or of `我的工单`; None for ordinary text."""
    stripped = text.strip()
    if _MY_TICKETS.match(stripped):
        return Route.MY_TICKETS
    if _CHECK_IN.match(stripped):
        return Route.CHECKIN
    match = _COMMAND.match(stripped)
    return COMMANDS.get(match.group(1)) if match else None


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
    *,
    awaiting_location: bool = False,
    attachments: bool = False,
) -> Route:
    """The handler key for this message; `ignore` means stay silent (chitchat, `other`, noise).

    `awaiting_location`: the sender's report in this chat waits for its place (哪栋楼), so their
    next message answers it. A resident's worker command is routed on so that it is refused
    politely; a resident's vague "已经处理了" without a ticket number stays chatter.
    """
    intent = parse.intent
    named = _TICKET_REF.search(text) is not None
    key = command(text)
    if key is Route.CHECKIN and not is_staff(sender):
        key = None  # a resident's 今天平安 is chatter
    if key is not None:
        return key  # a resident's worker command reaches the handler, which refuses it politely
    if is_staff(sender):
        return _staff_route(intent, text, replies_to_ticket, named, awaiting_location, attachments, is_report)
    if awaiting_location and intent != "cancel_report":
        return Route.LOCATE
    if parse_rating(text) is not None:
        return Route.RATE
    if is_report(intent):
        return Route.REPORT
    if intent in RESIDENT_INTENTS:
        return Route(intent)
    if intent in WORKER_INTENTS and named:
        return Route(intent)  # a resident acting on a ticket by number: refused with a reason
    return Route.ATTACH if attachments else Route.IGNORE


def _staff_route(
    intent: str,
    text: str,
    replies_to_ticket: bool,
    named: bool,
    awaiting_location: bool,
    attachments: bool,
    is_report: Callable[[str], bool],
) -> Route:
    word = _GOVERNANCE.search(text)
    if word and (named or replies_to_ticket):
        return COMMANDS[word.group(1)]
    if intent in WORKER_INTENTS:
        return Route(intent)
    if replies_to_ticket and _ACK.match(text.strip()):
        return Route.WORKER_ACCEPT  # 收到 replying to the bot's ticket post
    if awaiting_location:
        return Route.LOCATE
    if is_report(intent) and not named:
        return Route.REPORT
    if named or replies_to_ticket:
        return Route.WORKER_NOTE  # about a named case: a progress note, or the answer to a consult
    return Route.ATTACH if attachments else Route.IGNORE
