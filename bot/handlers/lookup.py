"""Which ticket a message is about: an explicit #id, the bot post it replies to, or the obvious one."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handlers.context import Context
from bot.interpret import ticket_ref
from tickets.model import Refused, Ticket, TicketState


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


async def for_staff(ctx: Context, states: Sequence[TicketState]) -> Ticket:
    """The ticket a worker means; without a reference, their only ticket in this chat in `states`."""
    ticket, named = await referenced(ctx)
    if named and ticket is None:
        raise Refused("no_ticket", ticket_id=ticket_ref(ctx.parse, ctx.message.text) or "")
    if ticket is None:
        mine = await ctx.uow.tickets.find(chat_id=ctx.message.chat_id, states=states)
        own = [t for t in mine if t.assignee in (None, ctx.actor)]
        if len(own) != 1:
            raise Refused("which_ticket")
        ticket = await ctx.uow.tickets.get(own[0].id, for_update=True)
        assert ticket is not None
    if not ctx.directory.serves(ctx.actor, ticket.grid):
        raise Refused("not_staff", ticket_id=ticket.id)
    return ticket


async def for_reporter(ctx: Context, states: Sequence[TicketState]) -> Ticket | None:
    """The reporter's ticket this message is about: named/replied, else their latest in `states`."""
    ticket, _ = await referenced(ctx)
    if ticket is not None:
        return ticket
    mine = await ctx.uow.tickets.find(chat_id=ctx.message.chat_id, reporter=ctx.actor, states=states, limit=1)
    return await ctx.uow.tickets.get(mine[0].id, for_update=True) if mine else None
