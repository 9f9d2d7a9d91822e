"""A resident (or worker) reports an incident: open a ticket for this micro-grid, unless it adds to
one that exists.

In order: the same reporter's report of the same type within the follow-up window adds to their
ticket (补充); the same type at the same place in this grid while a case is live links the reporter
to it (关注); a report with no usable place asks once where (哪栋楼/哪个位置) and waits as a draft;
otherwise a ticket opens. Emergencies never wait for a place.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.handlers.context import Context
from bot.handlers.lookup import recent_own, waits_for_place
from bot.nlu.port import Entity
from bot.nlu.rules import extract_entities
from tickets import subtypes, transitions
from tickets.geo import place_key
from tickets.model import OPEN_STATES, CaseKind, Ticket, TicketState
from tickets.texts import Text

LOCATION_ENTITIES = ("location", "building", "unit", "room")
URGENT_POLICY = "urgent"  # a `types.urgent` entry of the policy file, if any, applies to urgent cases
PLACE_ANSWER = 30  # characters: an answer to 哪栋楼 this short is kept whole as the place (滨河小区5号楼东门)
# Landmarks a grid worker finds without asking (三组路口, 东门, 停车场), used when the NLU found no
# place entity. A bare 楼道/楼上 is not one: the bot asks which building. Kept out of the NLU's
# entities on purpose: it would cost exact-span entity F1 (measured: dev 0.121 → 0.109).
_LANDMARK = re.compile(
    r"[一二三四五六七八九十\d]+组(?:路口)?|(?:小区|村|楼)?[东南西北]门口?|小区门口|大门口|村口|路口"
    r"|地下车库|停车场|菜市场|篮球场|垃圾站|花坛|广场|公园"
)


async def report(ctx: Context, ticket_type: str | None = None) -> None:
    if ctx.extra_reports and ticket_type is None:
        await several(ctx)
        return
    ticket_type = ticket_type or ctx.parse.intent
    urgent = ctx.parse.urgent or ctx.catalog.ticket(ticket_type).severity == "urgent"
    location = location_of(ctx)
    own = await recent_own(ctx, ticket_type)
    if own is not None and (own.urgent or not urgent) and not _elsewhere(own, location):
        await _add_to(ctx, own)
        return
    same = await duplicate_of(ctx, ticket_type, location)
    if same is not None:
        await ctx.apply(transitions.follow(same, ctx.actor, ctx.message.text, ctx.now), before=same)
        return
    await open_case(ctx, ticket_type, location, urgent)


def _elsewhere(ticket: Ticket, location: str) -> bool:
    """A second report of the same type at another named place is another case, not a supplement."""
    return bool(location and ticket.location) and place_key(location) != place_key(ticket.location)


async def several(ctx: Context) -> None:
    """One message, several problems (`6号楼路灯坏了 楼下也有人乱停车`): one case each, one answer."""
    place = location_of(ctx)
    opened: list[Ticket] = []
    for parse, text in ctx.extra_reports:  # each part read as a report of its own (the first included)
        location = join_places(parse.entities) or _landmark(text) or place
        opened.append(await open_case(ctx, parse.intent, location, parse.urgent, text=text, announce=False))
    lines = [ctx.render(Text.TICKET_OPENED_LINE, {"ticket_id": t.id, "type": t.type, "location": t.location})
             for t in opened]  # fmt: skip
    await ctx.say(Text.TICKETS_OPENED_MANY, lines="\n".join(lines), worker=opened[0].assignee or "")


async def open_case(
    ctx: Context, ticket_type: str, location: str, urgent: bool, *, text: str | None = None, announce: bool = True
) -> Ticket:
    """Open a case from this message (or `text`, a part of it or an earlier one). Without `announce`
    the group acknowledgement is left to the caller (several cases from one message get one)."""
    policy = ctx.policies.for_type(_policy_key(ctx, ticket_type, urgent))
    spec = ctx.catalog.ticket(ticket_type)
    subtype = subtypes.match(spec.subtypes, text or ctx.message.text)
    kind = None
    if subtype is not None:
        policy = policy if urgent else subtypes.apply(policy, subtype)  # an emergency keeps its 24/7 policy
        kind = CaseKind(subtype.id, subtype.name, subtype.code or spec.code or "", subtype.conditions)
    workers = ctx.directory.workers_of(ctx.grid.id)
    outcome = transitions.open_ticket(
        ticket_id=await ctx.uow.tickets.next_id(),
        ticket_type=ticket_type,
        grid=ctx.grid.id,
        chat_id=ctx.message.chat_id,
        reporter=ctx.actor,
        assignee=workers[0].id if workers else None,
        location=location,
        text=text or ctx.message.text,
        policy=policy,
        now=ctx.now,
        urgent=urgent,
        directory=ctx.directory,
        draft=announce and not location and not urgent and policy.location_s > 0 and ticket_type != transitions.CONSULT,
        attachments=ctx.attachments,
        subtype=kind,
    )
    if not announce:
        outcome = replace(outcome, notices=tuple(n for n in outcome.notices if n.chat_id is None))
    return await ctx.apply(outcome, before=None)


def _policy_key(ctx: Context, ticket_type: str, urgent: bool) -> str:
    if urgent and URGENT_POLICY in ctx.policies.by_type:
        return URGENT_POLICY
    if ticket_type == transitions.CONSULT:
        return transitions.CONSULT
    return ctx.catalog.ticket(ticket_type).policy or ticket_type


async def _add_to(ctx: Context, ticket: Ticket) -> None:
    if ticket.state is TicketState.DRAFT or (waits_for_place(ticket, ctx.now) and location_of(ctx)):
        await locate(ctx, ticket)
        return
    outcome = transitions.supplement(ticket, ctx.actor, ctx.message.text.strip()[:500], ctx.now, ctx.attachments)
    await ctx.apply(outcome, before=ticket)


async def locate(ctx: Context, draft: Ticket) -> None:
    """The reporter's answer to 哪栋楼/哪个位置 (a draft's, or an urgent case's opened without a
    place): place entities, a shared location, or the short text itself."""
    text = ctx.message.text.strip()
    shared = next((a.place() for a in ctx.message.attachments if a.place()), "")
    short = text if 0 < len(text) <= PLACE_ANSWER else ""  # a short answer is the place as they said it
    location = short or location_of(ctx) or shared
    if not location:
        outcome = transitions.supplement(draft, ctx.actor, text[:500], ctx.now, ctx.attachments)
    elif draft.state is TicketState.DRAFT:
        moved = None
        if ctx.grid.id != draft.grid:  # a shared location routed this line's message to another grid
            workers = ctx.directory.workers_of(ctx.grid.id)
            moved = (ctx.grid.id, workers[0].id if workers else None)
        outcome = transitions.locate(draft, ctx.actor, location, text[:500], ctx.now, moved)
    else:
        outcome = transitions.add_place(draft, ctx.actor, location, text[:500], ctx.now)
    await ctx.apply(outcome, before=draft)


async def duplicate_of(ctx: Context, ticket_type: str, location: str) -> Ticket | None:
    """A live case of the same type at the same place in this grid (same normalised place)."""
    key = place_key(location)
    if not key:
        return None
    found = await ctx.uow.tickets.find(chat_id=ctx.message.chat_id, ticket_type=ticket_type, states=sorted(OPEN_STATES))
    same = [t for t in found if t.grid == ctx.grid.id and place_key(t.location) == key]
    return await ctx.uow.tickets.get(same[-1].id, for_update=True) if same else None


def location_of(ctx: Context) -> str:
    """Join the place entities in reading order (`阳光小区 3号楼 2单元 502`), else a landmark."""
    return join_places(ctx.parse.entities) or _landmark(ctx.message.text)


def place_in(text: str) -> str:
    """The place a text names, from the structured entities and landmarks alone (no model)."""
    return join_places(extract_entities(text)) or _landmark(text)


def _landmark(text: str) -> str:
    landmark = _LANDMARK.search(text)
    return landmark.group(0) if landmark else ""


def join_places(entities: tuple[Entity, ...]) -> str:
    parts = sorted((e for e in entities if e.entity in LOCATION_ENTITIES), key=lambda e: e.start)
    seen: list[str] = []
    for entity in parts:
        if entity.value not in seen:
            seen.append(entity.value)
    return " ".join(seen)[:500]
