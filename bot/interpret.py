"""From an NLU parse and who is speaking to the action the bot takes. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
    MY_POINTS = "my_points"  # 我的积分
    CHECKIN = "checkin"
    REPORT_IN = "report_in"
    SUSPEND = "suspend"
    APPROVE_SUSPENSION = "approve_suspension"
    RESUME = "resume"
    DISPATCH = "dispatch"
    SIGN = "sign"
    RETURN = "return"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    REFUSE_EXTENSION = "refuse_extension"
    VERIFY_PASS = "verify_pass"
    STAFF_PHOTOS = "staff_photos"
    VERIFY_FAIL = "verify_fail"
    RATE = "rate"
    CONFIRM_RESOLVED = "confirm_resolved"
    REJECT_RESOLUTION = "reject_resolution"
    CANCEL_REPORT = "cancel_report"
    ASK_STATUS = "ask_status"
    CONSULT = "consult"
    LOCATE = "locate"
    ATTACH = "attach"
    ASK_REPORT = "ask_report"
    ANSWER_YES = "answer_yes"
    IGNORE = "ignore"


WORKER_INTENTS = frozenset({"worker_accept", "worker_progress", "worker_resolve", "escalate_request"})
RESIDENT_INTENTS = frozenset({"confirm_resolved", "reject_resolution", "ask_status", "cancel_report", "consult"})

_NOISE = re.compile(r"[\s，,。.!！~～、👍🙏😊]+|谢谢|感谢|了|啦|哈|呀|啊")
_WORD_RATINGS = {"非常满意": 5, "很满意": 5, "满意": 5, "基本满意": 3, "一般": 3, "还行": 3,
                 "不满意": 1, "很不满意": 1, "非常不满意": 1}  # fmt: skip
_NUMBER_RATING = re.compile(r"^([1-5一二三四五])(?:分|星)?$")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_ACK = re.compile(
    r"^(收到(收到|了)?|好的?|好嘞|嗯|嗯\s*我看看|OK|ok|接了|我接|马上(去|到|处理)?|这就去|我来|我去|我去看看|我看看|明白|了解|"
    r"马上过去)[!！。.~～\s]*$"
)
_TICKET_REF = re.compile(r"#\s*(\d{1,9})|(\d{1,9})\s*号工单|工单\s*#?\s*(\d{1,9})|^[/／]\S+?\s*#?(\d{1,9})")
_COMMAND = re.compile(r"^[/／]\s*(\S+?)(?:\s*#?\d{1,9})?(?:\s+.*)?$", re.S)
_CHECK_IN = re.compile(r"^[/／]?\s*(报平安|今日平安|网格平安|今天平安)")
_MY_TICKETS = re.compile(r"^[/／]?\s*(我的工单|我的任务|待办工单)[?？。!！]*$")
_MY_POINTS = re.compile(r"^(?:[/／]\s*(?:我的)?积分|我的积分|查积分|积分查询)[?？。!！]*$")

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
    "派单": Route.DISPATCH, "派": Route.DISPATCH, "指定": Route.DISPATCH,
    "签收": Route.SIGN, "退单": Route.RETURN,
    "申请延期": Route.REQUEST_EXTENSION, "延期": Route.REQUEST_EXTENSION,
    "同意延期": Route.APPROVE_EXTENSION, "批准延期": Route.APPROVE_EXTENSION,
    "不同意延期": Route.REFUSE_EXTENSION, "驳回延期": Route.REFUSE_EXTENSION,
    "核查通过": Route.VERIFY_PASS, "核查合格": Route.VERIFY_PASS, "验收通过": Route.VERIFY_PASS,
    "核查不通过": Route.VERIFY_FAIL, "核查不合格": Route.VERIFY_FAIL, "返工": Route.VERIFY_FAIL,
}  # fmt: skip
_COMMAND_WORD = "|".join(sorted(COMMANDS, key=len, reverse=True))
_NOTE_PREFIX = re.compile(
    rf"^(?:[/／]\s*(?:{_COMMAND_WORD})\s*(?:[#＃]?\s*\d{{1,9}})?|[#＃]\s*\d{{1,9}}|\d{{1,9}}\s*号工单|工单\s*[#＃]?\s*\d{{1,9}})"
    r"(?=\s|[，,。:：;；]|$)[\s，,。:：;；]*"
)
# 吹哨报到 and 挂账 said in words about a named case (`#12 报到`, replying `同意挂账` to the post).
_GOVERNANCE = re.compile(r"(同意挂账|批准挂账|解除挂账|恢复办理|申请挂账|挂账|报到)")
GOVERNANCE_KEYS = frozenset({Route.REPORT_IN, Route.SUSPEND, Route.APPROVE_SUSPENSION, Route.RESUME})
# 派单 · 签收 · 退单 · 延期 about a named case, the word right after the number (`#12 派 城管`, `#12 签收`,
# `#12 退单 不归我们管`, `#12 申请延期 2027-01-20 等配件`, `#12 同意延期`), or opening a reply to the
# case's post; anywhere else in a sentence these words are a note (`#12 已联系派出所`).
_HANDLING = re.compile(
    r"^\s*(?:[#＃]\s*\d{1,9}|\d{1,9}\s*号工单|工单\s*[#＃]?\s*\d{1,9})?[\s，,:：]*"
    r"(?:(不同意延期|驳回延期|同意延期|批准延期|申请延期|核查不通过|核查不合格|核查通过|核查合格|验收通过|返工|签收|退单|派单|指定)"
    r"(?=[\s:：，,。!！]|$)|(派)(?=[\s:：给至到]))"  # the word then a pause: `#12 签收了吗` is a question, not 签收
)
HANDLING_KEYS = frozenset({Route.DISPATCH, Route.SIGN, Route.RETURN, Route.REQUEST_EXTENSION,
                           Route.APPROVE_EXTENSION, Route.REFUSE_EXTENSION, Route.VERIFY_PASS,
                           Route.VERIFY_FAIL})  # fmt: skip


def handling_words(text: str) -> tuple[Route, str] | None:
    """A 派单/签收/退单/延期 command said in words, and what follows it (the department, the reason, the date)."""
    match = _HANDLING.match(text)
    if match is None:
        return None
    word = match.group(1) or match.group(2)
    rest = text[match.end() :].strip(" \t\n，,。:：;；!！")
    if word in ("派", "派单"):
        rest = re.sub(r"^[给至到]\s*", "", rest)  # 派给城管, 派到水务局
    return COMMANDS[word], rest


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
    """The route key of a slash command (`/接单 12`) or of `我的工单` / `我的积分`; None for ordinary text."""
    stripped = text.strip()
    if _MY_TICKETS.match(stripped):
        return Route.MY_TICKETS
    if _MY_POINTS.match(stripped):
        return Route.MY_POINTS
    if _CHECK_IN.match(stripped):
        return Route.CHECKIN
    match = _COMMAND.match(stripped)
    return COMMANDS.get(match.group(1)) if match else None


def command_note(text: str) -> str:
    """What a command says beyond itself: `/进展 14 已联系师傅`, `#14 已联系师傅`, `14号工单 已联系师傅`
    all say `已联系师傅` (the group reads the note, not the command that carried it)."""
    return _NOTE_PREFIX.sub("", text.strip(), count=1).strip()


def ticket_ref(parse: Parse, text: str) -> int | None:
    for value in [*parse.values("ticket_id"), text]:
        match = _TICKET_REF.search(value)
        if match:
            return int(next(g for g in match.groups() if g))
    return None


def is_staff(person: Person | None) -> bool:
    return person is not None and person.role in (Role.WORKER, Role.OFFICER, Role.ADMIN)


@dataclass(frozen=True)
class Situation:
    """What the dialogue layer knows besides the words: who speaks and what the bot waits for."""

    sender: Person | None = None  # None: a resident (not in the directory)
    replies_to_ticket: bool = False  # the message replies to the bot's post about a case
    awaiting_location: str | None = None  # the type of the sender's draft waiting for its place (哪栋楼)
    awaiting_feedback: bool = False  # a case the sender reported is resolved and waits for their word
    attachments: bool = False  # a photo or a shared location came with it
    open_types: frozenset[str] = frozenset()  # the types of the sender's own active cases in this chat


def find_rating(text: str) -> int | None:
    """A rating said inside a longer message (`修好了，满意`, `好了 5分`, `谢谢 给个五星`)."""
    whole = parse_rating(text)
    if whole is not None:
        return whole
    for pattern, value in _RATINGS_IN_TEXT:
        match = pattern.search(text)
        if match:
            return value if value else _digit(match.group(1))
    return None


def is_yes(text: str) -> bool:
    """`是` / `对` / `嗯` …: the answer to the bot's "您是要反映…吗？"."""
    return _YES.match(text.strip()) is not None


def answers_place(text: str, parse: Parse, attachments: bool) -> bool:
    """Does this message say where (a place entity, a landmark, a shared location, `就在门口`)?"""
    if attachments or any(e.entity in _PLACE_ENTITIES for e in parse.entities):
        return True
    core = text.strip()
    return len(core) <= 40 and _PLACE_WORDS.search(core) is not None and _QUESTION.search(core) is None


def feedback_route(parse: Parse, text: str) -> Route | None:
    """The sender's case is resolved and the bot asked them to confirm and rate: read their word.
    The words decide where they are clear (a fix denied: 没好, 还在漏, 拍了个照就走了; a fix seen:
    干净了, 挪走了, 👍); the model decides the rest; a message about something else is None."""
    rating = find_rating(text)
    negative, positive = _NEGATIVE.search(text), _POSITIVE.search(text)
    if rating is not None:
        return (
            Route.REJECT_RESOLUTION if rating <= 2 and (negative or parse.intent == "reject_resolution") else Route.RATE
        )
    if negative and (parse.intent == "reject_resolution" or not _is_new_matter(parse, text)):
        return Route.REJECT_RESOLUTION
    if parse.intent == "reject_resolution" and not positive:
        return Route.REJECT_RESOLUTION
    if parse.intent == "confirm_resolved" or (positive and not _is_new_matter(parse, text)):
        return Route.CONFIRM_RESOLVED
    if _CONTRAST.search(text) and parse.intent.startswith("report_"):
        return Route.REJECT_RESOLUTION  # 水是来了 但还是黄的: the same problem, still there
    return None


def _is_new_matter(parse: Parse, text: str) -> bool:
    """Something else than the resolved case: a question, a new incident, a request to withdraw.
    Read as a status question, a plain statement (`还没修好啊`, no question word) is no question."""
    if parse.intent == "ask_status":
        return _QUESTION.search(text) is not None or _HOW_FAR.search(text) is not None
    return parse.intent in ("consult", "cancel_report") or (
        parse.intent.startswith("report_") and parse.confidence >= 0.8
    )


def reply_route(parse: Parse, text: str) -> Route | None:
    """A resident replies to the bot's post about a case: a question is about its progress, a
    withdrawal withdraws it, whatever the model made of the few words."""
    if parse.intent not in ("chitchat", "other"):
        return None
    core = text.strip()
    if len(core) > 20:
        return None
    if _WITHDRAW.search(core):
        return Route.CANCEL_REPORT
    if _QUESTION.search(core) or _CHASE.search(core):
        return Route.ASK_STATUS
    return None


def asks_status(text: str) -> bool:
    """A question about how a case goes, whatever the model made of it: when will it be fixed (什么时候
    能修好, 多久能弄好), how far it is (进度怎么样, 到哪一步了), whether anyone handles it (有人管吗,
    怎么还没人来), whether it is done (修好了吗). Short: a long message is something more."""
    core = text.strip()
    return len(core) <= 30 and _STATUS_ASK.search(core) is not None


def plausible_report(parse: Parse, text: str, is_report: Callable[[str], bool]) -> bool:
    """Not read as a report, but the model ranks a report type close enough to ask the sender once."""
    return (
        parse.report_hint is not None
        and not is_report(parse.intent)
        and parse.intent in ("chitchat", "other")
        and parse.hint_confidence >= ASK_AT
        and len(text.strip()) >= 6
    )


def route(
    parse: Parse,
    text: str,
    situation: Situation,
    is_report: Callable[[str], bool] = lambda intent: intent.startswith("report_"),
) -> Route:
    """The handler key for this message; `ignore` means stay silent (chitchat, `other`, noise).

    An emergency is a report in every state. A pending question (哪栋楼) is answered only by a
    message that says where; anything else is handled as what it is and the question stays
    open. A resident's worker command is routed on so that it is refused politely; a resident's
    vague "已经处理了" without a ticket number stays chatter.
    """
    key = command(text)
    if key is Route.CHECKIN and not is_staff(situation.sender):
        key = None  # a resident's 今天平安 is chatter
    if key is not None:
        return key  # a resident's worker command reaches the handler, which refuses it politely
    if is_staff(situation.sender):
        return _staff_route(parse, text, situation, is_report)
    if parse.urgent:
        return Route.REPORT
    return _resident_route(parse, text, situation, is_report)


def _resident_route(parse: Parse, text: str, situation: Situation, is_report: Callable[[str], bool]) -> Route:
    intent = parse.intent
    if situation.awaiting_location:
        if intent == "cancel_report":
            return Route.CANCEL_REPORT
        if answers_place(text, parse, situation.attachments) and not _other_report(parse, text, situation, is_report):
            return Route.LOCATE
    if situation.awaiting_feedback:
        feedback = feedback_route(parse, text)
        if feedback is not None:
            return feedback
    if situation.replies_to_ticket:
        reply = reply_route(parse, text)
        if reply is not None:
            return reply
    if parse_rating(text) is not None:
        return Route.RATE
    if is_yes(text):
        return Route.ANSWER_YES
    if situation.open_types and asks_status(text) and (not is_report(intent) or intent in situation.open_types):
        return Route.ASK_STATUS  # 什么时候能修好 from someone whose case is open: about it, not a new matter
    if is_report(intent):
        return Route.REPORT
    if intent in RESIDENT_INTENTS:
        return Route(intent)
    if intent in WORKER_INTENTS and _TICKET_REF.search(text):
        return Route(intent)  # a resident acting on a ticket by number: refused with a reason
    if plausible_report(parse, text, is_report):
        return Route.ASK_REPORT
    return Route.ATTACH if situation.attachments else Route.IGNORE


def _other_report(parse: Parse, text: str, situation: Situation, is_report: Callable[[str], bool]) -> bool:
    """A confident report of another type than the draft's, with words beyond the place, is a new
    report (the question stays open), not the answer."""
    if not is_report(parse.intent) or parse.intent == situation.awaiting_location or parse.confidence < 0.6:
        return False
    return len(_beyond_place(text, parse)) >= 4


def _beyond_place(text: str, parse: Parse) -> str:
    """What a message says besides where: the text less its place entities, place words and fillers."""
    kept = list(text)
    for e in parse.entities:
        if e.entity in _PLACE_ENTITIES:
            kept[e.start : e.end] = [" "] * (e.end - e.start)
    return _FILLER.sub("", _PLACE_WORDS.sub("", "".join(kept)))


def _staff_route(parse: Parse, text: str, situation: Situation, is_report: Callable[[str], bool]) -> Route:
    named = _TICKET_REF.search(text) is not None
    replies = situation.replies_to_ticket
    intent = parse.prior if parse.urgent and (named or replies or parse.prior in WORKER_INTENTS) else parse.intent
    handling = handling_words(text)
    if handling is not None and (named or replies):
        return handling[0]
    word = _GOVERNANCE.search(text)
    if word and (named or replies):
        return COMMANDS[word.group(1)]
    if (replies or named) and _ACK.match(_TICKET_REF.sub("", text).strip()):
        return Route.WORKER_ACCEPT  # 收到 replying to the bot's ticket post, or `#12 收到`, whatever the model read
    if intent in ("worker_progress", "worker_resolve") or (replies and intent in ("chitchat", "other")):
        done = _aspect(text)
        if done is not None:
            return Route.WORKER_RESOLVE if done else Route.WORKER_PROGRESS
    if intent not in WORKER_INTENTS:
        move = _staff_move(text)
        if move is not None:
            return move
    if intent in WORKER_INTENTS:
        return Route(intent)
    if situation.awaiting_location and answers_place(text, parse, situation.attachments):
        return Route.LOCATE
    if is_report(intent) and not named:
        return Route.REPORT
    if named or replies:  # about a named case: done, or a progress note (or the answer to a consult)
        return Route.WORKER_RESOLVE if _aspect(text) else Route.WORKER_NOTE
    return Route.STAFF_PHOTOS if situation.attachments else Route.IGNORE


def _staff_move(text: str) -> Route | None:
    """What a worker's words do when the model took them for chatter or a report: ask for help above
    (请城管查证), say it is done (锯开拉走了), take it (这事我来弄), or say how it goes (还剩一车)."""
    if _AGAIN.search(text):
        return None  # 巡查发现… / 又坏了: a report from the worker's round
    if _ESCALATE.search(text):
        return Route.ESCALATE_REQUEST
    if _aspect(text):
        return Route.WORKER_RESOLVE
    if _TAKE.search(text):
        return Route.WORKER_ACCEPT
    if _WORKING.search(text):
        return Route.WORKER_PROGRESS
    return None


def _aspect(text: str) -> bool | None:
    """Done (已清运, 修好了, 搞定) or still going (在路上, 正在弄, 明天来修)? None when the words do not say."""
    done, ongoing = _DONE.search(text), _ONGOING.search(text)
    if done and _ASKED.match(text, done.end()):
        done = None  # 修好了吗, 签收了没: asking whether it is done says nothing done
    if done and not ongoing:
        return True
    if ongoing and not done:
        return False
    return None


# What each route means as an intent of the taxonomy (for measuring the whole reading).
_ROUTE_INTENT = {
    Route.WORKER_NOTE: "worker_progress", Route.MY_TICKETS: "ask_status", Route.CHECKIN: "chitchat",
    Route.ATTACH: "chitchat", Route.ANSWER_YES: "chitchat", Route.REPORT_IN: "worker_accept",
    Route.SUSPEND: "escalate_request", Route.APPROVE_SUSPENSION: "escalate_request", Route.RESUME: "worker_progress",
    Route.DISPATCH: "escalate_request", Route.SIGN: "worker_accept", Route.RETURN: "escalate_request",
    Route.REQUEST_EXTENSION: "worker_progress", Route.APPROVE_EXTENSION: "escalate_request",
    Route.REFUSE_EXTENSION: "escalate_request", Route.VERIFY_PASS: "confirm_resolved",
    Route.VERIFY_FAIL: "reject_resolution", Route.STAFF_PHOTOS: "worker_progress", Route.MY_POINTS: "consult",
}  # fmt: skip


def understood(route_key: Route, parse: Parse, text: str, situation: Situation) -> str:
    """The intent the bot acted on: what `nlu eval` scores against a labelled row."""
    if route_key is Route.REPORT:
        return parse.intent if parse.intent.startswith("report_") else parse.report_hint or parse.intent
    if route_key is Route.ASK_REPORT:
        return parse.report_hint or "chitchat"
    if route_key is Route.LOCATE:
        return situation.awaiting_location or parse.intent
    if route_key is Route.RATE:
        rating = find_rating(text)
        return "reject_resolution" if rating is not None and rating <= 2 else "confirm_resolved"
    if route_key is Route.IGNORE:
        return parse.intent if parse.intent in ("chitchat", "other") else "chitchat"
    return _ROUTE_INTENT.get(route_key, route_key.value)


def _digit(value: str) -> int:
    return _CN_DIGITS.get(value) or int(value)


ASK_AT = 0.30  # the model's confidence in a report type from which the bot asks (see README "NLU")
_PLACE_ENTITIES = ("location", "building", "unit", "room")
_PLACE_WORDS = re.compile(
    r"\d+\s*(?:号楼|栋|幢|单元|楼|号|室|层|组|#)|[一二三四五六七八九十]+(?:号楼|栋|幢|单元|组|楼)|门口|旁边|对面|后面|前面|"
    r"楼下|楼上|楼道|路口|附近|那边|这边|那儿|这儿|里面|东边|西边|南边|北边|[东南西北]门|小区|村|路|街|巷|院|广场|"
    r"公园|市场|菜场|站|店|超市|学校|幼儿园|医院|车库|停车场|花园|绿化带|河边|桥|家门口|俺家|我家|我们家|二楼|一楼|"
    r"后头|前头|边上|靠近|隔壁|对过|拐角|[东西南北中]区|[\u4e00-\u9fff]{1,5}(?:所|房|馆|厂|场|院|园|库|亭|角|侧|处|部|委会)"
)
_HOW_FAR = re.compile(r"如何|怎样|怎么样|哪一步|到哪了|到哪儿了|进展|进度")  # a status question without a question word
_QUESTION = re.compile(r"[?？吗呢]|什么时候|怎么|咋|啥时|多久|几时|谁|哪天|有人(?:管|接|来|弄)")
_CHASE = re.compile(r"^(?:人呢|进展|进度|结果|情况)|还没(?:人|来|修|弄|好)|没人(?:来|管|接|理)")
_STATUS_ASK = re.compile(
    r"(?:什么时候|啥时候?|几时|多久|多长时间|哪天|何时)[^，,。！!]{0,6}(?:修|弄|处理|解决|来|搞|清|通|管|能好|会好)|"
    r"(?:进度|进展|情况|结果)(?:怎么样|如何|咋样|呢|到哪)|(?:怎么样|咋样|如何)了|到哪(?:一步|了)|"
    r"有(?:没有)?人(?:管|处理|来|理|接|弄)(?:吗|没|嘛|不|啊|呀|[?？])|"
    r"(?:怎么|咋|为什么|为啥)?还没(?:人|修|好|来|弄|处理|解决|动静)|(?:修|处理|弄|解决|清理)(?:好|完)?了(?:吗|没|嘛)"
)
_WITHDRAW = re.compile(r"撤|不要了|算了|不用了|不用来|取消|不报了|别来了")
_CONTRAST = re.compile(r"但是?|可是|不过|就是.{0,4}(?:还|又)|只是")
_FILLER = re.compile(
    r"[\s，,。.!！~～、:：()（）]+|在|就|那|这|个|里|的|旁边|附近|靠近|后头|前头|后面|前面|边上|那边|这边|吧|啊|呢|哈|嗯|哦|是|那儿|这儿"
)
_DONE = re.compile(
    r"已(?:经)?(?:处理|修|清|换|更换|疏通|办结|拆|劝离|调解|挪|解决|完成|恢复|修复|安装|补|送医|联系上)|(?:修|清|弄|搞|处理|办|换|装|补|通|挪|拆|扫|拉)"
    r"(?:好|完|干净|走|掉|通)了|搞定|完事|完毕|解决了|好了|可以了|处理完|OK了|ok了|结束了|收工|"
    r"(?:清理|清运|处理|拆除|更换|修复|疏通|结清|推走|推出去|拉走|运走|收回|劝离|移走|挪走|收拾|冲洗)(?:了|完|好|干净)|"
    r"(?:拆|剪|换|关|锯|抽|捡|贴|装|补|修|清|拉|推|送|退|合|堵|封|铺|刷|挂|收|做|接)"
    r"(?:(?:掉|走|完|好|妥|开|通|干净|上|回|住|成)[^，,。！!？?\s]{0,4}|新的)?了(?<!接了)|"
    r"(?:找着|找到|谈妥|说开|恢复|到位|合格|完工|收队|签了字|办妥)"
)
_ASKED = re.compile(r"\s*(?:吗|么|嘛|没有?)(?:[?？。!！~\s]|$)")
_AGAIN = re.compile(r"又(?:坏|漏|堵|停|不亮|满|来|有)|巡查|发现|走访")
_TAKE = re.compile(
    r"^(?:好的?|嗯|收到\S{0,2}|OK|ok)?\s*(?:我接|我跟|我来|交给我|我去|我负责|我认领|记下了|我记下|这个我|我马上)|"
    r"我(?:来弄|来处理|来管|跟进|接了|负责|认领)|我接(?:$|[，,。！!\s])|交给我|我们来|给您答复|马上安排|来管|来牵头|已受理|受理了|"
    # an acknowledgement, then when or that I go and look (收到 东门那堆土我下午去看看, 知道了 两点前到)
    r"^(?:收到|好的?|好嘞|行|嗯|哦+|知道了|晓得了)[\s，,!！~]*(?:收到|好的?)?[\s，,]*[^。！!？?]{0,14}?"
    r"(?:(?:我|马上|这就|下午|上午|一会儿?)[^。！!？?]{0,6}?)?(?:去(?:看|瞧|瞅|巡|查|处理|现场)|过去|赶过去|"
    r"(?:\d{1,2}|[一二三四五六七八九十]{1,2})点(?:前|以前)?到)|(?:这单|这个|这事)归我|算我的"
)
_ESCALATE = re.compile(
    r"请求?(?:社区|街道|城管|住建|公安|派出所|供电|民政|执法|上级|领导|相关部门|[\u4e00-\u9fff]{1,4}(?:局|所|站|队|办))"
    r"[\u4e00-\u9fff]{0,6}(?:协调|处理|派人|介入|查|来|出面|支援|协助|调)|需要[\u4e00-\u9fff]{0,6}(?:协调|介入|支援|出面)|"
    r"(?:处理|管|解决|核实)不了|超出(?:网格|权限|能力)|吹哨|申请上报|联合执法"
)
_WORKING = re.compile(
    r"(?:正在|在)(?:弄|修|处理|清|拉|找|查|协调|联系|赶|路上|做)|还剩|零件|配件|材料|派人|下单|到货|协调会|寄过来|快递|"
    r"找漏|查漏|答应|盯着|跟踪|"
    r"已(?:经)?(?:联系|通知|派|约|上报|报修|协调)|约了|定在"
)
_ONGOING = re.compile(
    r"正在|在路上|再路上|马上|一会|等会|待会|明天|下午|晚点|稍后|还(?:没|在|得|要)|准备|安排|联系了|约了|先|等"
)
_YES = re.compile(
    r"^(?:是|是的|是啊|对|对的|对啊|嗯|嗯嗯|好|好的|要|要的|登记|登记吧|没错|可以|是滴|对头)[!！。.~～]*$"
)
_NEGATIVE = re.compile(
    r"没(?:好|修|来|人|用|弄|解决|处理|变化|效果)|还(?:是|在|没|不)|又|依然|照样|根本|差评|假的|不行|没用|不满意|骗|糊弄|敷衍|"
    r"一点没|压根|啥也没|什么也没|没干|就走了|拍了个?照|白跑|不对"
)
_POSITIVE = re.compile(
    r"好了|好的|可以|行|不错|挺好|没问题|谢|👍|🙏|👌|满意|棒|赞|辛苦|感谢|ok|OK|来了|亮了|通了|干净了|修了|弄好|搞定|利索|"
    r"效率|及时|给力|嗯|干净|整洁|能进出|挪走了|拉走了|清走了|正常了|\[强\]|\[赞\]|\[OK\]|💪|✌"
)
_RATINGS_IN_TEXT: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(?:非常|很|特别)?不满意|差评"), 1),
    (re.compile(r"基本满意|还行吧?$|凑合"), 3),
    (re.compile(r"(?:非常|很|特别)?满意|好评|五星|5星"), 5),
    (re.compile(r"(?:给|打|评)?\s*([1-5一二三四五])\s*(?:分(?!钟)|星|颗星)"), 0),
)
