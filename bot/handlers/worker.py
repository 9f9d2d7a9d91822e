"""Grid workers (and officers above them) act on tickets: accept, progress, resolve, 吹哨, list them."""

from __future__ import annotations

import re

from bot.handlers.context import Context
from bot.handlers.lookup import for_staff, residents_tickets
from bot.interpret import command_note, is_staff
from escalation.routines import local_day
from tickets import transitions, verification
from tickets.directory import Role
from tickets.model import ACTIVE_STATES, OPEN_STATES, Refused, Ticket, TicketState
from tickets.texts import Text

MY_TICKETS_LIMIT = 20
ANSWER_MIN = 4  # characters beyond the ticket number: `#3 收到` accepts a consult, a sentence answers it
_REF = re.compile(r"#\s*\d+|[/／]\S+")


async def accept(ctx: Context) -> None:
    ticket = await for_staff(ctx, [TicketState.REPORTED])
    if await _answered(ctx, ticket):
        return
    await ctx.apply(transitions.accept(ticket, ctx.actor, ctx.now), before=ticket)


async def progress(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    if await _answered(ctx, ticket):
        return
    if ctx.attachments:  # a photo from the site (处置后照片 when it is done), with or without words
        await ctx.apply(
            transitions.staff_photos(ticket, ctx.actor, _note(ctx), ctx.now, ctx.attachments), before=ticket
        )
        return
    if not _note(ctx):  # `/进展 14` or a bare `#14`: nothing to tell the group
        raise Refused(Text.PROGRESS_NEEDS_NOTE, **transitions.notice_params(ticket))
    await ctx.apply(transitions.progress(ticket, ctx.actor, _note(ctx), ctx.now), before=ticket)


async def _answered(ctx: Context, ticket: Ticket) -> bool:
    """Whatever staff write about a consult case beyond a bare 收到 is the answer: it resolves it."""
    if ticket.type != transitions.CONSULT or len(_REF.sub("", ctx.message.text).strip()) <= ANSWER_MIN:
        return False
    await _resolve(ctx, ticket)
    return True


async def resolve(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    await _resolve(ctx, ticket)


async def _resolve(ctx: Context, ticket: Ticket) -> None:
    """已处理, with the policy's proof (an after-photo) and verification (核查)."""
    history = await ctx.uow.tickets.events(ticket.id)
    outcome = verification.resolve(ticket, ctx.actor, _note(ctx), ctx.now, history=history,
                                   attachments=ctx.attachments, directory=ctx.directory)  # fmt: skip
    await ctx.apply(outcome, before=ticket)


async def photos(ctx: Context) -> None:
    """A photo staff send with no words naming a case: it goes to their only open case in this chat
    (the after-photo a resolve may need); with no such case it is chatter."""
    mine = await ctx.uow.tickets.find(chat_id=ctx.message.chat_id, states=sorted(OPEN_STATES))
    own = [t for t in mine if t.assignee == ctx.actor or (t.dispatch and t.dispatch.signed_by == ctx.actor)]
    if len(own) != 1:
        return
    ticket = await ctx.uow.tickets.get(own[0].id, for_update=True)
    if ticket is not None:
        await ctx.apply(
            transitions.staff_photos(ticket, ctx.actor, _note(ctx), ctx.now, ctx.attachments), before=ticket
        )


async def whistle(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    outcome = transitions.whistle(ticket, ctx.actor, _note(ctx), ctx.directory, ctx.now)
    await ctx.apply(outcome, before=ticket)


async def note(ctx: Context) -> None:
    """Staff write about a named case: for a consult it is the answer (resolves it), else a progress note."""
    await progress(ctx)


async def my_tickets(ctx: Context) -> None:
    """我的工单: a worker's open cases in their grid, an officer's in their jurisdiction (never beyond it);
    a resident's own, like a status question. Asked in a group, the list is that group's grid only:
    the group's residents see no other grid's cases (the whole list is on the asker's private line)."""
    if not is_staff(ctx.sender):
        tickets = await residents_tickets(ctx, sorted(ACTIVE_STATES), limit=MY_TICKETS_LIMIT)
    else:
        grids = ctx.directory.grids_served(ctx.actor)
        if not grids:
            raise Refused(Text.NOT_STAFF_HERE)
        if not ctx.message.private:
            grids = [g for g in grids if g == ctx.grid.id]
        states = sorted(ACTIVE_STATES)
        tickets = await ctx.uow.tickets.find(grids=grids, states=states, limit=MY_TICKETS_LIMIT) if grids else []
        if ctx.sender is not None and ctx.sender.role is Role.WORKER:
            tickets = [t for t in tickets if t.assignee in (None, ctx.actor)]
    if not tickets:
        await ctx.say(Text.MY_TICKETS_NONE)
        return
    lines = [ctx.render(Text.MY_TICKET_LINE, _line(t)) for t in tickets]
    await ctx.say(Text.MY_TICKETS_REPLY, lines="\n".join(lines))


async def check_in(ctx: Context) -> None:
    """报平安: a worker's daily check-in (once a day; a second one is acknowledged, not counted)."""
    if ctx.sender is None or ctx.sender.role is not Role.WORKER:
        raise Refused(Text.CHECKIN_WORKERS_ONLY)
    day = local_day(ctx.now)
    new = await ctx.uow.records.check_in(ctx.actor, day.isoformat(), ctx.now, ctx.message.text.strip())
    if new and ctx.cases.points is not None:  # 积分 for the day's 报平安, in the same transaction
        await ctx.cases.points.checked_in(ctx.uow, ctx.actor, ctx.sender.node or ctx.grid.id, day.isoformat(), ctx.now)
    if new and ctx.cases.figures is not None:
        await ctx.cases.figures.checked_in(ctx.uow, ctx.actor, day.isoformat())
    await ctx.say(Text.CHECKIN_OK if new else Text.CHECKIN_AGAIN, actor=ctx.actor, text=f"{day.month}月{day.day}日")


def _line(ticket: Ticket) -> dict[str, object]:
    return {**transitions.notice_params(ticket), "state": ticket.state.value}


def _note(ctx: Context) -> str:
    """The worker's words without the command and case number that carried them."""
    return command_note(ctx.message.text)[:500]
