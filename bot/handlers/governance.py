"""吹哨报到 and 挂账: an officer reports in (takes the case at their tier), a worker asks to suspend a
case, an officer suspends or approves, staff resume it. Refusals name who may do what."""

from __future__ import annotations

import re

from bot.handlers.context import Context
from bot.handlers.lookup import for_staff
from tickets import transitions
from tickets.directory import Role
from tickets.model import OPEN_STATES, Refused, TicketState, Tier
from tickets.texts import Text

_COMMAND_WORDS = re.compile(r"^[/／]\S+\s*\d*|#\s*\d+|同意挂账|批准挂账|申请挂账|挂账")
_EDGES = "，,。:：;； \t\n"


async def report_in(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    tier = ctx.directory.tier_of(ctx.actor)
    if tier is None or ticket.dispatch is not None:  # a department takes a dispatched case by 签收
        raise Refused(Text.OFFICER_ONLY, **transitions.notice_params(ticket))
    history = await ctx.uow.tickets.events(ticket.id)
    await ctx.apply(transitions.report_in(ticket, ctx.actor, tier, ctx.now, history=history), before=ticket)


async def suspend(ctx: Context) -> None:
    """An officer's 挂账 suspends at once (a reason is required); a worker's is a request to them."""
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    reason = _reason(ctx.message.text)
    if _is_officer(ctx):
        await ctx.apply(transitions.suspend(ticket, ctx.actor, reason, ctx.now), before=ticket)
        return
    outcome = transitions.request_suspension(ticket, ctx.actor, reason, ctx.directory, ctx.now)
    await ctx.apply(outcome, before=ticket)


async def approve(ctx: Context) -> None:
    ticket = await for_staff(ctx, sorted(OPEN_STATES))
    if not _is_officer(ctx):
        raise Refused(Text.OFFICER_ONLY, **transitions.notice_params(ticket))
    if not ticket.suspension:
        raise Refused(Text.NO_SUSPENSION_REQUEST, **transitions.notice_params(ticket))
    await ctx.apply(transitions.suspend(ticket, ctx.actor, "", ctx.now), before=ticket)


async def resume(ctx: Context) -> None:
    ticket = await for_staff(ctx, [TicketState.SUSPENDED])
    if _in_department(ctx):  # the department's clock restarts only by the dispatching tier's word
        raise Refused(Text.OFFICER_ONLY, **transitions.notice_params(ticket))
    await ctx.apply(transitions.resume(ticket, ctx.actor, ctx.now), before=ticket)


def _is_officer(ctx: Context) -> bool:
    """An officer of the grid tree (or an admin): department people ask (their 挂账 is a request to
    whoever dispatched the case) and never approve."""
    return ctx.sender is not None and ctx.sender.role in (Role.OFFICER, Role.ADMIN) and not _in_department(ctx)


def _in_department(ctx: Context) -> bool:
    return ctx.directory.tier_of(ctx.actor) is Tier.DEPARTMENT


def _reason(text: str) -> str:
    return _COMMAND_WORDS.sub(" ", text).strip(_EDGES)[:500]
