"""The grid directory in the database: `grids import` replaces it, the bot loads it on start."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import tables as t
from tickets import geo
from tickets.directory import Department, Directory, Node, Person, Role
from tickets.model import Tier


async def load_directory(engine: AsyncEngine) -> Directory | None:
    """The stored directory, or None when none was imported yet."""
    async with engine.connect() as conn:
        nodes = (await conn.execute(select(t.grid_nodes))).mappings().all()
        if not nodes:
            return None
        people = (await conn.execute(select(t.people))).mappings().all()
        departments = (await conn.execute(select(t.departments))).mappings().all()
    return Directory(
        nodes=[_node(n) for n in nodes],
        people=[Person(p["id"], p["name"], Role(p["role"]), p["node"]) for p in people],
        departments=[Department(d["id"], d["name"], tuple(d["people"]), tuple(d["types"])) for d in departments],
    )


async def save_directory(engine: AsyncEngine, directory: Directory) -> None:
    """Replace the stored directory in one transaction (tickets keep their grid ids)."""
    async with engine.begin() as conn:
        for table in (t.departments, t.people, t.grid_nodes):
            await conn.execute(delete(table))
        await conn.execute(
            t.grid_nodes.insert(),
            [
                {
                    "id": n.id,
                    "name": n.name,
                    "tier": n.tier.value,
                    "parent": n.parent,
                    "chat_id": n.chat_id,
                    "boundary": geo.to_geojson(n.boundary) if n.boundary else None,
                    "buildings": {k: list(v) for k, v in n.buildings} or None,
                }
                for n in directory.nodes.values()
            ],
        )
        if directory.people:
            await conn.execute(
                t.people.insert(),
                [{"id": p.id, "name": p.name, "role": p.role.value, "node": p.node} for p in directory.people.values()],
            )
        if directory.departments:
            await conn.execute(
                t.departments.insert(),
                [
                    {"id": d.id, "name": d.name, "people": list(d.people), "types": list(d.types)}
                    for d in directory.departments
                ],
            )


def _node(row: Any) -> Node:
    boundary = geo.shape(row["boundary"]) if row["boundary"] else None
    buildings = tuple((k, geo.point(v, k)) for k, v in (row["buildings"] or {}).items())
    return Node(row["id"], row["name"], Tier(row["tier"]), row["parent"], row["chat_id"], boundary, buildings)
