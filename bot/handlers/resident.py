"""Residents follow their reports: status, cancel, confirm, rate, reject (reopen), consult."""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.lookup import for_reporter
from bot.handlers.report import report
from bot.interpret import parse_rating
from tickets import loop
from tickets.model import ACTIVE_STATES, OPEN_STATES, Notice, TicketState

FEEDBACK_STATES = (TicketState.RESOLVED,)


async def rate(ctx: Context) -> None:
    rating = parse_rating(ctx.message.text)
    assert rating is not None
    ticket = await for_reporter(ctx, FEEDBACK_STATES)
    if ticket is None:
        closed = await ctx.uow.tickets.find(
            chat_id=ctx.message.chat_id, reporter=ctx.actor, states=[TicketState.CLOSED], limit=1
        )
        ticket = closed[0] if closed and closed[0].rating is None else None
    if ticket is None:
        return  # a bare number or 满意 with nothing to rate is group chatter: stay silent
    await ctx.apply(loop.rate(ticket, ctx.actor, rating, ctx.now), before=ticket)


async def confirm(ctx: Context) -> None:
    ticket = await for_reporter(ctx, FEEDBACK_STATES)
    if ticket is None:
        await nothing_to_follow_up(ctx)
        return
    await ctx.apply(loop.confirm(ticket, ctx.actor, ctx.now), before=ticket)


async def reject(ctx: Context) -> None:
    ticket = await for_reporter(ctx, (TicketState.RESOLVED, TicketState.CLOSED))
    if ticket is None:
        await nothing_to_follow_up(ctx)
        return
    await ctx.apply(loop.reject(ticket, ctx.actor, ctx.message.text.strip()[:500], ctx.now), before=ticket)


async def nothing_to_follow_up(ctx: Context) -> None:
    """A follow-up (又坏了, 修好了) from a resident with no ticket to follow: if it also reads like
    an incident (`6号楼电梯又坏了`), it is a new report; otherwise it is chatter and gets no reply."""
    if ctx.parse.report_hint:
        await report(ctx, ctx.parse.report_hint)


async def cancel(ctx: Context) -> None:
    ticket = await for_reporter(ctx, sorted(OPEN_STATES))
    if ticket is None:
        await ctx.say("status_none")
        return
    await ctx.apply(loop.cancel(ticket, ctx.actor, ctx.now), before=ticket)


async def status(ctx: Context) -> None:
    tickets = await ctx.uow.tickets.find(
        chat_id=ctx.message.chat_id, reporter=ctx.actor, states=sorted(ACTIVE_STATES), limit=5
    )
    if not tickets:
        await ctx.say("status_none")
        return
    lines = [
        ctx.render("status_line", {"ticket_id": t.id, "type": t.type, "location": t.location, "state": t.state.value})
        for t in tickets
    ]
    await ctx.say("status_reply", lines="\n".join(lines))


async def consult(ctx: Context) -> None:
    workers = ctx.directory.workers_of(ctx.grid.id)
    params = {"reporter": ctx.actor, "text": ctx.message.text, "grid": ctx.grid.id}
    await ctx.notify([Notice("worker_consult", person_id=w.id, params=params) for w in workers])
    await ctx.say("consult_forwarded", worker=workers[0].id if workers else "")
