"""A resident (or worker) reports an incident: open a ticket for this micro-grid."""

from __future__ import annotations

from bot.handlers.context import Context
from tickets import loop

LOCATION_ENTITIES = ("location", "building", "unit", "room")


async def report(ctx: Context, ticket_type: str | None = None) -> None:
    ticket_type = ticket_type or ctx.parse.intent
    workers = ctx.directory.workers_of(ctx.grid.id)
    ticket_id = await ctx.uow.tickets.next_id()
    outcome = loop.open_ticket(
        ticket_id=ticket_id,
        ticket_type=ticket_type,
        grid=ctx.grid.id,
        chat_id=ctx.message.chat_id,
        reporter=ctx.actor,
        assignee=workers[0].id if workers else None,
        location=location_of(ctx),
        text=ctx.message.text,
        policy=ctx.policies.for_type(ticket_type),
        now=ctx.now,
    )
    await ctx.apply(outcome, before=None)


def location_of(ctx: Context) -> str:
    """Join the place entities in reading order: `阳光小区 3号楼 2单元 502`."""
    parts = sorted((e for e in ctx.parse.entities if e.entity in LOCATION_ENTITIES), key=lambda e: e.start)
    seen: list[str] = []
    for entity in parts:
        if entity.value not in seen:
            seen.append(entity.value)
    return " ".join(seen)[:500]
