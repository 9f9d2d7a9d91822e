"""Grid workers (and officers above them) act on tickets: accept, progress, resolve, 吹哨."""

from __future__ import annotations

from bot.handlers.context import Context
from bot.handlers.lookup import for_staff
from tickets import loop
from tickets.model import OPEN_STATES, TicketState


async def accept(ctx: Context) -> None:
    ticket = await for_staff(ctx, [TicketState.REPORTED])
    await ctx.apply(loop.accept(ticket, ctx.actor, ctx.now), before=ticket)


async def progress(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    await ctx.apply(loop.progress(ticket, ctx.actor, _note(ctx), ctx.now), before=ticket)


async def resolve(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    await ctx.apply(loop.resolve(ticket, ctx.actor, _note(ctx), ctx.now), before=ticket)


async def whistle(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    outcome = loop.whistle(ticket, ctx.actor, _note(ctx), ctx.directory, ctx.now)
    await ctx.apply(outcome, before=ticket)


def _note(ctx: Context) -> str:
    return ctx.message.text.strip()[:500]
