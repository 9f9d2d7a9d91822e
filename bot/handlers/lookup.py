"""Which ticket a message is about: an explicit #id, the bot post it replies to, or the obvious one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.handlers.context import Context
from bot.interpret import ticket_ref
from tickets.model import LIVE_STATES, Refused, Ticket, TicketState
from tickets.texts import Text


async def referenced(ctx: Context) -> tuple[Ticket | None, bool]:
    """The ticket named by id or by reply; (None, True) when a named one does not exist here."""
    ticket_id = ticket_ref(ctx.parse, ctx.message.text)
    if ticket_id is None and ctx.message.reply_to is not None:
        replied = await ctx.uow.messages.get(ctx.message.reply_to)
        if replied is not None and replied.chat_id == ctx.message.chat_id:
            ticket_id = replied.ticket_id
    if ticket_id is None:
        return None, False
    ticket = await ctx.uow.tickets.get(ticket_id, for_update=True)
    if ticket is None or ticket.chat_id != ctx.message.chat_id:
        return None, True
    return ticket, True


async def for_staff(ctx: Context, states: Sequence[TicketState], *, department_staff: bool = False) -> Ticket:
    """The ticket a worker means; without a reference, their only ticket in this chat in `states`.
    `department_staff`: any department's people reach the transition, which says whose case it is."""
    ticket, named = await referenced(ctx)
    if named and ticket is None:
        raise Refused(Text.NO_TICKET, ticket_id=ticket_ref(ctx.parse, ctx.message.text) or "")
    if ticket is None:
        if not ctx.directory.serves(ctx.actor, ctx.grid.id):
            raise Refused(Text.NOT_STAFF_HERE)
        mine = await ctx.uow.tickets.find(chat_id=ctx.message.chat_id, states=states)
        own = [t for t in mine if t.assignee in (None, ctx.actor)]
        if len(own) != 1:
            raise Refused(Text.WHICH_TICKET if own else Text.NO_OPEN_TICKET)
        ticket = await ctx.uow.tickets.get(own[0].id, for_update=True)
        assert ticket is not None
    if department_staff and any(ctx.actor in d.people for d in ctx.directory.departments):
        return ticket
    if not ctx.directory.may_act(ctx.actor, ticket.grid, ticket.type, ticket.tier, ticket.department):
        raise Refused(Text.NOT_STAFF, ticket_id=ticket.id)
    return ticket


async def for_reporter(ctx: Context, states: Sequence[TicketState]) -> Ticket | None:
    """The resident's ticket this message is about: named/replied, else the latest in `states` that
    they reported or follow (关注) in this chat."""
    ticket, _ = await referenced(ctx)
    if ticket is not None:
        return ticket
    mine = await residents_tickets(ctx, states, limit=1)
    return await ctx.uow.tickets.get(mine[0].id, for_update=True) if mine else None


async def residents_tickets(ctx: Context, states: Sequence[TicketState], limit: int = 5) -> list[Ticket]:
    """Tickets of this chat in `states` that the sender reported or follows, newest first.
    Filtered here rather than in SQL: a chat holds few live cases, and followers are a JSON list."""
    found = await ctx.uow.tickets.find(chat_id=ctx.message.chat_id, states=states, limit=200)
    return [t for t in found if ctx.actor in t.residents][:limit]


PLACE_WAIT = timedelta(minutes=30)  # how long an urgent case opened without a place takes its answer


async def awaiting_location(ctx: Context) -> Ticket | None:
    """The sender's case in this chat that waits for its place: a draft, or an urgent case opened
    at once without one."""
    found = await ctx.uow.tickets.find(chat_id=ctx.message.chat_id, reporter=ctx.actor, states=PLACE_STATES, limit=5)
    waiting = next((t for t in found if waits_for_place(t, ctx.now)), None)
    return await ctx.uow.tickets.get(waiting.id, for_update=True) if waiting else None


PLACE_STATES = [TicketState.DRAFT, TicketState.REPORTED, TicketState.ACCEPTED]


def waits_for_place(ticket: Ticket, now: datetime) -> bool:
    if ticket.state is TicketState.DRAFT:
        return True
    return ticket.urgent and not ticket.location and now - ticket.created_at <= PLACE_WAIT


async def recent_own(ctx: Context, ticket_type: str) -> Ticket | None:
    """The sender's own live ticket of this type opened within the follow-up window (a second
    message about the same thing adds to it instead of opening another)."""
    since = ctx.now - timedelta(seconds=ctx.followup_s)
    found = await ctx.uow.tickets.find(
        chat_id=ctx.message.chat_id, reporter=ctx.actor, states=sorted(LIVE_STATES), ticket_type=ticket_type, limit=1
    )
    fresh = [t for t in found if t.created_at >= since]
    return await ctx.uow.tickets.get(fresh[0].id, for_update=True) if fresh else None
