"""A resident (or worker) reports an incident: open a ticket for this micro-grid, unless it adds to
one that exists.

In order: the same reporter's report of the same type within the follow-up window adds to their
ticket (补充); the same type at the same place in this grid while a case is live links the reporter
to it (关注); a report with no usable place asks once where (哪栋楼/哪个位置) and waits as a draft;
otherwise a ticket opens. Emergencies never wait for a place.
"""

from __future__ import annotations

import re

from bot.handlers.context import Context
from bot.handlers.lookup import recent_own
from bot.nlu.port import Entity
from tickets import transitions
from tickets.model import OPEN_STATES, Ticket, TicketState

LOCATION_ENTITIES = ("location", "building", "unit", "room")
URGENT_POLICY = "urgent"  # a `types.urgent` entry of the policy file, if any, applies to urgent cases
_PLACE_NOISE = re.compile(r"[\s,，。.、：:（）()-]+")
_BUILDING = re.compile(r"(\d+)\s*(?:号楼|#楼|栋|幢|#|号)")
_CN = str.maketrans("一二三四五六七八九", "123456789")
# Landmarks a grid worker finds without asking (三组路口, 东门, 停车场), used when the NLU found no
# place entity. A bare 楼道/楼上 is not one: the bot asks which building. Kept out of the NLU's
# entities on purpose: it would cost exact-span entity F1 (measured: dev 0.121 → 0.109).
_LANDMARK = re.compile(
    r"[一二三四五六七八九十\d]+组(?:路口)?|(?:小区|村|楼)?[东南西北]门口?|小区门口|大门口|村口|路口"
    r"|地下车库|停车场|菜市场|篮球场|垃圾站|花坛|广场|公园"
)


async def report(ctx: Context, ticket_type: str | None = None) -> None:
    ticket_type = ticket_type or ctx.parse.intent
    urgent = ctx.parse.urgent or ctx.catalog.ticket(ticket_type).severity == "urgent"
    own = await recent_own(ctx, ticket_type)
    if own is not None and not urgent:
        await _add_to(ctx, own)
        return
    location = location_of(ctx)
    same = await duplicate_of(ctx, ticket_type, location)
    if same is not None:
        await ctx.apply(transitions.follow(same, ctx.actor, ctx.message.text, ctx.now), before=same)
        return
    await open_case(ctx, ticket_type, location, urgent)


async def open_case(ctx: Context, ticket_type: str, location: str, urgent: bool) -> Ticket:
    policy = ctx.policies.for_type(_policy_key(ctx, ticket_type, urgent))
    workers = ctx.directory.workers_of(ctx.grid.id)
    outcome = transitions.open_ticket(
        ticket_id=await ctx.uow.tickets.next_id(),
        ticket_type=ticket_type,
        grid=ctx.grid.id,
        chat_id=ctx.message.chat_id,
        reporter=ctx.actor,
        assignee=workers[0].id if workers else None,
        location=location,
        text=ctx.message.text,
        policy=policy,
        now=ctx.now,
        urgent=urgent,
        directory=ctx.directory,
        draft=not location and not urgent and policy.location_s > 0 and ticket_type != transitions.CONSULT,
        attachments=ctx.attachments,
    )
    return await ctx.apply(outcome, before=None)


def _policy_key(ctx: Context, ticket_type: str, urgent: bool) -> str:
    if urgent and URGENT_POLICY in ctx.policies.by_type:
        return URGENT_POLICY
    if ticket_type == transitions.CONSULT:
        return transitions.CONSULT
    return ctx.catalog.ticket(ticket_type).policy or ticket_type


async def _add_to(ctx: Context, ticket: Ticket) -> None:
    if ticket.state is TicketState.DRAFT:
        await locate(ctx, ticket)
        return
    outcome = transitions.supplement(ticket, ctx.actor, ctx.message.text.strip()[:500], ctx.now, ctx.attachments)
    await ctx.apply(outcome, before=ticket)


async def locate(ctx: Context, draft: Ticket) -> None:
    """The reporter's answer to 哪栋楼/哪个位置: place entities, a shared location, or the short text itself."""
    text = ctx.message.text.strip()
    shared = next((a.place() for a in ctx.message.attachments if a.place()), "")
    location = location_of(ctx) or shared or (text[:60] if 0 < len(text) <= 60 else "")
    if not location:
        outcome = transitions.supplement(draft, ctx.actor, text[:500], ctx.now, ctx.attachments)
        await ctx.apply(outcome, before=draft)
        return
    await ctx.apply(transitions.locate(draft, ctx.actor, location, text[:500], ctx.now), before=draft)


async def duplicate_of(ctx: Context, ticket_type: str, location: str) -> Ticket | None:
    """A live case of the same type at the same place in this grid (same normalised place)."""
    key = place_key(location)
    if not key:
        return None
    found = await ctx.uow.tickets.find(chat_id=ctx.message.chat_id, ticket_type=ticket_type, states=sorted(OPEN_STATES))
    same = [t for t in found if t.grid == ctx.grid.id and place_key(t.location) == key]
    return await ctx.uow.tickets.get(same[-1].id, for_update=True) if same else None


def place_key(location: str) -> str:
    """`三号楼 2单元` and `3#楼2单元` are one place: Chinese digits, separators and building words unified."""
    return _BUILDING.sub(r"\1号楼", _PLACE_NOISE.sub("", location.translate(_CN)))


def location_of(ctx: Context) -> str:
    """Join the place entities in reading order (`阳光小区 3号楼 2单元 502`), else a landmark."""
    places = join_places(ctx.parse.entities)
    if places:
        return places
    landmark = _LANDMARK.search(ctx.message.text)
    return landmark.group(0) if landmark else ""


def join_places(entities: tuple[Entity, ...]) -> str:
    parts = sorted((e for e in entities if e.entity in LOCATION_ENTITIES), key=lambda e: e.start)
    seen: list[str] = []
    for entity in parts:
        if entity.value not in seen:
            seen.append(entity.value)
    return " ".join(seen)[:500]
