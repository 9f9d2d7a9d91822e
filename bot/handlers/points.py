"""我的积分 (also `/积分`): the sender's points at the 平安超市: the balance (earned − redeemed), this
month's earnings and the latest entries. Staff have one account across the grids they serve; a
resident is the sender in this chat's grid (`tickets.points`)."""

from __future__ import annotations

from bot.handlers.context import Context
from escalation.calendar import LOCAL
from escalation.routines import local_day, month_bounds
from tickets.points import STAFF, Balance, Entry
from tickets.texts import Text

RECENT = 5  # entries shown


async def my_points(ctx: Context) -> None:
    person, scope = ctx.actor, STAFF if ctx.sender is not None else ctx.grid.id
    balance = await ctx.uow.points.balance(person, scope)
    latest = await ctx.uow.points.entries(person, scope, RECENT)
    if not latest and balance == Balance():
        await ctx.say(Text.MY_POINTS_NONE)
        return
    start, end, _ = month_bounds(local_day(ctx.now).strftime("%Y-%m"))
    earned = await ctx.uow.points.earned_between(person, scope, start, end)
    lines = [ctx.render(Text.MY_POINT_LINE, _line(e)) for e in latest]
    await ctx.say(Text.MY_POINTS_REPLY, balance=balance.available, earned=earned, lines="\n".join(lines))


def _line(entry: Entry) -> dict[str, object]:
    return {
        "day": entry.at.astimezone(LOCAL).strftime("%m月%d日"),
        "rule": entry.rule.value,
        "points": f"{entry.points:+d}",
        "note": f"（工单 #{entry.ticket_id}）" if entry.ticket_id is not None else "",
    }
