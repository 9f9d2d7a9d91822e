"""A resident (or worker) reports an incident: open a ticket for this micro-grid."""

from __future__ import annotations

from bot.handlers.context import Context
from tickets import loop

LOCATION_ENTITIES = ("location", "building", "unit", "room")


URGENT_POLICY = "urgent"  # a `types.urgent` entry of the policy file, if any, applies to urgent cases


async def report(ctx: Context, ticket_type: str | None = None) -> None:
    ticket_type = ticket_type or ctx.parse.intent
    spec = ctx.catalog.ticket(ticket_type)
    urgent = ctx.parse.urgent or spec.severity == "urgent"
    policy_key = URGENT_POLICY if urgent and URGENT_POLICY in ctx.policies.by_type else spec.policy or ticket_type
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
        policy=ctx.policies.for_type(policy_key),
        now=ctx.now,
        urgent=urgent,
        directory=ctx.directory,
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
