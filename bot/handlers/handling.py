"""派单 · 签收 · 退单 · 延期 in the chat (group or one-to-one, like every staff command):
`#12 派 城管`, `#12 签收`, `#12 退单 原因`, `#12 申请延期 2027-01-20 原因`, `#12 同意延期` /
`#12 不同意延期`, and their slash forms (`/派单 12 城管`). The rules are in `tickets.departments`."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from bot.handlers.context import Context
from bot.handlers.lookup import for_staff
from bot.interpret import COMMANDS, handling_words
from escalation import planner
from escalation.calendar import LOCAL
from tickets import departments, verification
from tickets.model import OPEN_STATES, Outcome, Refused, Ticket, TicketState
from tickets.texts import Text
from tickets.transitions import notice_params

_SLASH = re.compile(rf"^[/／]\s*(?:{'|'.join(sorted(COMMANDS, key=len, reverse=True))})\s*(?:[#＃]?\s*\d{{1,9}})?")
# A date as people write one: with a year (2027-01-20, 2027/1/20, 2027年1月20日), 1月20日 / 1月20号, or
# 1-20 / 1/20 standing alone (never `3.5米`: a dot without a year is a number, not a date).
_DATES = (
    re.compile(r"(?<!\d)(?P<y>20\d\d)\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})(?!\d)\s*[日号]?"),
    re.compile(r"(?<!\d)(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})(?!\d)\s*[日号]?"),
    re.compile(r"(?<![\d.])(?P<m>\d{1,2})[-/](?P<d>\d{1,2})(?![\d.])"),
)


async def dispatch(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    tier = ctx.directory.tier_of(ctx.actor)
    if tier is None:
        raise Refused(Text.DISPATCH_OFFICERS_ONLY, **notice_params(ticket))
    query = _rest(ctx.message.text)
    department = ctx.directory.department(query)
    if department is None:
        names = "、".join(d.name for d in ctx.directory.departments) or "（未配置职能部门）"
        raise Refused(Text.UNKNOWN_DEPARTMENT, **notice_params(ticket, note=query, lines=names))
    await ctx.apply(departments.dispatch(ticket, ctx.actor, tier, department, ctx.directory, ctx.now), before=ticket)


async def sign(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES), department_staff=True)
    await _apply_planned(ctx, departments.sign(ticket, ctx.actor, ctx.directory, ctx.now), ticket)


async def return_case(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES), department_staff=True)
    outcome = departments.return_case(ticket, ctx.actor, _rest(ctx.message.text), ctx.directory, ctx.now)
    await ctx.apply(outcome, before=ticket)


async def request_extension(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES), department_staff=True)
    words = _rest(ctx.message.text)
    until = extension_date(words, ctx.now)
    if until is None:
        raise Refused(Text.EXTENSION_NEEDS_REASON, **notice_params(ticket))
    found = _date_match(words)
    reason = (words[: found.start()] + " " + words[found.end() :] if found else words).strip(" \t，,。:：;；")
    due = planner.phase_end(ticket)
    outcome = departments.request_extension(ticket, ctx.actor, until, reason, due, ctx.directory, ctx.now)
    await ctx.apply(outcome, before=ticket)


async def approve_extension(ctx: Context) -> None:
    await _decide(ctx, approve=True)


async def refuse_extension(ctx: Context) -> None:
    await _decide(ctx, approve=False)


async def _decide(ctx: Context, *, approve: bool) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    tier = ctx.directory.tier_of(ctx.actor)
    outcome = departments.decide_extension(ticket, ctx.actor, tier, approve, ctx.directory, ctx.now)
    await _apply_planned(ctx, outcome, ticket)


async def verify_pass(ctx: Context) -> None:
    await _verify(ctx, passed=True)


async def verify_fail(ctx: Context) -> None:
    await _verify(ctx, passed=False)


async def _verify(ctx: Context, *, passed: bool) -> None:
    """核查: community officers (or above) check a resolved case."""
    ticket = await for_staff(ctx, [TicketState.RESOLVED])
    tier = ctx.directory.tier_of(ctx.actor)
    reason = _rest(ctx.message.text)
    outcome = verification.verify(ticket, ctx.actor, tier, passed, reason, ctx.directory, ctx.now)
    await ctx.apply(outcome, before=ticket)


async def _apply_planned(ctx: Context, outcome: Outcome, before: Ticket) -> None:
    """A clock re-planned from an earlier start (the dispatch) or to a new deadline skips the nags
    whose time has passed."""
    ticket = planner.skip_past_nags(outcome.ticket, ctx.now)
    await ctx.apply(replace(outcome, ticket=ticket), before=before)


def extension_date(words: str, now: datetime) -> datetime | None:
    """The end of the local day named (`2027-01-20`, `1月20日`, `01/20`); without a year, the next such
    date from today. None when no valid date is written."""
    match = _date_match(words)
    if match is None:
        return None
    today = now.astimezone(LOCAL).date()
    given = match.groupdict().get("y")
    year = int(given) if given else today.year
    try:
        day = date(year, int(match["m"]), int(match["d"]))
        if not given and day < today:
            day = date(year + 1, day.month, day.day)
    except ValueError:
        return None
    return (datetime.combine(day + timedelta(days=1), time(0), LOCAL) - timedelta(seconds=1)).astimezone(UTC)


def _date_match(words: str) -> re.Match[str] | None:
    """The first date written, trying the unambiguous forms first."""
    return next((m for m in (p.search(words) for p in _DATES) if m), None)


def _rest(text: str) -> str:
    """What a command says after its word: the department, the reason, the date and reason."""
    said = handling_words(text)
    if said is not None:
        return said[1]
    return _SLASH.sub("", text.strip(), count=1).strip(" \t\n，,。:：;；")
