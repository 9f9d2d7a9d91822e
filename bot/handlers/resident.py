"""Residents follow their reports: status, cancel, confirm, rate, reject (reopen), consult, photos.

"Their" tickets are the ones they reported or were linked to (关注) as a duplicate reporter.
"""

from __future__ import annotations

from datetime import timedelta

from bot.handlers.context import Context
from bot.handlers.lookup import awaiting_location, for_reporter, residents_tickets
from bot.handlers.report import locate, open_case, place_in, report
from bot.interpret import find_rating
from tickets import transitions
from tickets.model import ACTIVE_STATES, LIVE_STATES, OPEN_STATES, Refused, TicketState
from tickets.texts import Text

FEEDBACK_STATES = (TicketState.RESOLVED,)


ASK_WINDOW = timedelta(minutes=10)  # a `是` later than this no longer answers "您是要反映…吗？"
ASKED = "ask:"  # the reading recorded on a message the bot asked about: `ask:report_water`


async def rate(ctx: Context) -> None:
    rating = find_rating(ctx.message.text)
    assert rating is not None
    ticket = await for_reporter(ctx, FEEDBACK_STATES)
    if ticket is None:
        closed = await residents_tickets(ctx, [TicketState.CLOSED], limit=1)
        unrated = closed and ctx.actor not in closed[0].ratings
        ticket = await ctx.uow.tickets.get(closed[0].id, for_update=True) if unrated else None
    if ticket is None:
        return  # a bare number or 满意 with nothing to rate is group chatter: stay silent
    await ctx.apply(transitions.rate(ticket, ctx.actor, rating, ctx.now), before=ticket)


async def confirm(ctx: Context) -> None:
    """修好了 confirms; with a rating in the same message (`修好了，满意`, `好了 5分`) it also rates."""
    ticket = await for_reporter(ctx, FEEDBACK_STATES)
    if ticket is None:
        await nothing_to_follow_up(ctx)
        return
    rating = find_rating(ctx.message.text)
    if rating is not None:
        await ctx.apply(transitions.rate(ticket, ctx.actor, rating, ctx.now), before=ticket)
        return
    await ctx.apply(transitions.confirm(ticket, ctx.actor, ctx.now), before=ticket)


async def reject(ctx: Context) -> None:
    ticket = await for_reporter(ctx, (TicketState.RESOLVED, TicketState.CLOSED))
    if ticket is None:
        await nothing_to_follow_up(ctx)
        return
    await ctx.apply(transitions.reject(ticket, ctx.actor, ctx.message.text.strip()[:500], ctx.now), before=ticket)


async def nothing_to_follow_up(ctx: Context) -> None:
    """A follow-up (又坏了, 修好了) from a resident with no ticket to follow: if it also reads like
    an incident (`6号楼电梯又坏了`), it is a new report; otherwise it is chatter and gets no reply."""
    if ctx.parse.report_hint:
        await report(ctx, ctx.parse.report_hint)


async def cancel(ctx: Context) -> None:
    ticket = await for_reporter(ctx, sorted(OPEN_STATES | {TicketState.DRAFT}))
    if ticket is None:
        await ctx.say(Text.STATUS_NONE)
        return
    await ctx.apply(transitions.cancel(ticket, ctx.actor, ctx.now), before=ticket)


async def status(ctx: Context) -> None:
    tickets = await residents_tickets(ctx, sorted(ACTIVE_STATES))
    if not tickets:
        await ctx.say(Text.STATUS_NONE)
        return
    lines = [
        ctx.render(
            Text.STATUS_LINE, {"ticket_id": t.id, "type": t.type, "location": t.location, "state": t.state.value}
        )
        for t in tickets
    ]
    await ctx.say(Text.STATUS_REPLY, lines="\n".join(lines))


async def consult(ctx: Context) -> None:
    """A question: the FAQ answers it when an entry matches, else it becomes a consult case for the worker."""
    entry = ctx.faq.match(ctx.message.text)
    if entry is not None:
        await ctx.say(Text.FAQ_ANSWER, answer=entry.answer, text=entry.answer)
        return
    await open_case(ctx, transitions.CONSULT, "", urgent=False)


async def locate_draft(ctx: Context) -> None:
    draft = await awaiting_location(ctx)
    if draft is not None:
        await locate(ctx, draft)


async def attach(ctx: Context) -> None:
    """A photo or a shared place with no other meaning: it goes to the sender's latest live case here."""
    tickets = await residents_tickets(ctx, sorted(LIVE_STATES), limit=1)
    if not tickets:
        return  # a photo in the group with no case of theirs: chatter
    ticket = await ctx.uow.tickets.get(tickets[0].id, for_update=True)
    if ticket is None:
        raise Refused(Text.NO_TICKET, ticket_id=tickets[0].id)
    if ticket.state is TicketState.DRAFT:
        await locate(ctx, ticket)
        return
    outcome = transitions.supplement(ticket, ctx.actor, ctx.message.text.strip()[:500], ctx.now, ctx.attachments)
    await ctx.apply(outcome, before=ticket)


async def ask_report(ctx: Context) -> None:
    """Maybe a report, the model is unsure: ask the sender once, naming the likely type."""
    hint = ctx.parse.report_hint
    if hint is None:
        return
    ctx.reading = f"{ASKED}{hint}"
    await ctx.say(Text.ASK_REPORT_TYPE, type=hint)


async def answer_yes(ctx: Context) -> None:
    """`是` / `对` / `嗯` right after the bot asked: open the case with the original text. Anything
    else the sender said in between dropped the question (silently); so did time."""
    before = await ctx.uow.messages.previous_from(ctx.message.chat_id, ctx.message.sender, ctx.stored.id)
    if before is None or not (before.intent or "").startswith(ASKED) or ctx.now - before.created_at > ASK_WINDOW:
        return  # a plain 好的 / 嗯 in the group: chatter
    ticket_type = (before.intent or "")[len(ASKED) :]
    if not ctx.catalog.is_report(ticket_type):
        return
    ctx.reading = ticket_type
    await open_case(ctx, ticket_type, place_in(before.text), urgent=False, text=before.text)
