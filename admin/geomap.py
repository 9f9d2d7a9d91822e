"""The command centre's map, pure: which nodes an account may see, the regions of a node with their live
counts, the case points, the hotspots (主动治理) and the GeoJSON of the boundaries. Reads come in as
arguments (aggregates from `PlaceStore`, the directory); nothing here touches the database or the clock."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from tickets import geo
from tickets.directory import Directory, Node, Role
from tickets.model import Ticket, Tier
from tickets.ports import LiveCase, Position, Recurring, UnitOfWork

HOTSPOT_AT = 3  # the same type at the same place this many times in the period is a hotspot
HOTSPOT_DAYS = 30
MAX_POINTS = 2000  # case points drawn at once (the newest open cases of the node)
MAX_HOTSPOTS = 50
NEAR_M = 2000  # nearest workers for dispatch: within 2 km of the case (古城区 practice)


@dataclass(frozen=True)
class Scope:
    """Where an account may look: `root` None sees every node; else the account's node and what is below it."""

    root: str | None

    def sees(self, directory: Directory, node_id: str) -> bool:
        if node_id not in directory.nodes:
            return False
        return self.root is None or any(n.id == self.root for n in directory.chain(node_id))


def scope_of(directory: Directory, person_id: str | None, everything: bool) -> Scope | None:
    """An admin (or an account of the whole platform) sees every node; an officer their node's subtree;
    anyone else (an account whose person left the directory) nothing: None."""
    if everything:
        return Scope(None)
    person = directory.person(person_id or "")
    if person is None or person.node is None or person.role is not Role.OFFICER:
        return None
    return Scope(person.node)


def default_node(directory: Directory, scope: Scope) -> str | None:
    """Where a map opens: the account's node; for everything, the district (the only root), else None
    (several roots are drawn side by side)."""
    if scope.root is not None:
        return scope.root
    roots = directory.children(None)
    return roots[0].id if len(roots) == 1 else None


def grids_under(directory: Directory, node_ids: Iterable[str]) -> dict[str, str]:
    """Each micro-grid below (or at) one of `node_ids` → that node."""
    wanted = set(node_ids)
    out: dict[str, str] = {}
    for node in directory.nodes.values():
        if node.tier is Tier.GRID:
            hit = next((n.id for n in directory.chain(node.id) if n.id in wanted), None)
            if hit is not None:
                out[node.id] = hit
    return out


def regions(directory: Directory, node: str | None) -> list[Node]:
    """The regions a map of `node` draws: its children (a micro-grid draws itself); None: the roots."""
    if node is None:
        return directory.children(None)
    found = directory.nodes[node]
    return [found] if found.tier is Tier.GRID else directory.children(node)


def region_rows(
    shown: Sequence[Node], owner: Mapping[str, str], live: Mapping[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    """Per region: open and overdue cases (live, summed over its grids), whether it can be drilled into."""
    opened: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    for grid, (n_open, n_over) in live.items():
        if grid in owner:
            opened[owner[grid]] += n_open
            overdue[owner[grid]] += n_over
    return [
        {"id": n.id, "name": n.name, "tier": n.tier.value, "open": opened[n.id], "overdue": overdue[n.id],
         "drill": n.tier is not Tier.GRID, "has_boundary": n.boundary is not None}
        for n in shown
    ]  # fmt: skip


def case_point(
    directory: Directory, case: LiveCase, indexes: dict[str, geo.BuildingIndex]
) -> tuple[geo.Point, str] | None:
    """Where a case is drawn: a location shared with it, else the building its location names (`indexes`:
    each grid's buildings normalised once per response)."""
    if case.at is not None:
        return case.at, "shared"
    node = directory.nodes.get(case.grid)
    if node is None or not node.buildings or not case.location:
        return None
    if case.grid not in indexes:
        indexes[case.grid] = geo.building_index(node.buildings)
    found = geo.building_in(indexes[case.grid], case.location)
    return (found, "building") if found is not None else None


async def point_of_case(uow: UnitOfWork, directory: Directory, ticket: Ticket) -> geo.Point | None:
    """Where a case is: the location shared with it, else its grid's building its location names."""
    pinned = await uow.places.point_of(ticket.id)
    if pinned is not None:
        return pinned
    node = directory.nodes.get(ticket.grid)
    return geo.building_at(node.buildings, ticket.location) if node is not None and ticket.location else None


def case_rows(directory: Directory, cases: Sequence[LiveCase], type_name: Callable[[str], str]) -> list[dict[str, Any]]:
    rows = []
    indexes: dict[str, geo.BuildingIndex] = {}
    for case in cases:
        found = case_point(directory, case, indexes)
        if found is not None:
            rows.append({"id": case.id, "type": case.type, "type_name": type_name(case.type), "grid": case.grid,
                         "location": case.location, "tier": case.tier.value, "urgent": case.urgent,
                         "at": list(found[0]), "source": found[1]})  # fmt: skip
    return rows


def hotspots(directory: Directory, found: Sequence[Recurring], type_name: Callable[[str], str]) -> list[dict[str, Any]]:
    """主动治理: the same type at the same place of one grid `HOTSPOT_AT`+ times, spellings of a place
    merged (三号楼 = 3#楼), most frequent first."""
    merged: dict[tuple[str, str, str], list[Recurring]] = defaultdict(list)
    for r in found:
        merged[(r.grid, r.type, geo.place_key(r.location))].append(r)
    rows = []
    for (grid, kind, _), group in merged.items():
        count = sum(r.count for r in group)
        if count < HOTSPOT_AT:
            continue
        shown = max(group, key=lambda r: r.count).location
        node = directory.nodes.get(grid)
        at = geo.building_at(node.buildings, shown) if node is not None else None
        rows.append({"grid": grid, "grid_name": node.name if node else grid, "type": kind,
                     "type_name": type_name(kind), "location": shown, "count": count,
                     "last": max(r.last for r in group).isoformat(), "at": list(at) if at else None})  # fmt: skip
    rows.sort(key=lambda r: (-cast(int, r["count"]), str(r["grid"]), str(r["location"])))
    return rows[:MAX_HOTSPOTS]


def worker_rows(directory: Directory, positions: Sequence[Position], under: str | None) -> list[dict[str, Any]]:
    """Staff positions on the map of `under` (None: everything): people whose node is at or below it."""
    rows = []
    for p in positions:
        person = directory.person(p.person_id)
        if person is None or person.node is None or person.role is Role.ADMIN or person.node not in directory.nodes:
            continue
        if under is None or any(n.id == under for n in directory.chain(person.node)):
            rows.append({"id": person.id, "name": person.name, "role": person.role.value, "node": person.node,
                         "at": list(p.at), "seen": p.seen.isoformat()})  # fmt: skip
    return rows


def feature_collection(shown: Sequence[Node]) -> dict[str, Any]:
    """The regions' boundaries as GeoJSON (properties.name = the node id, which `echarts.registerMap` keys
    regions by; properties.label = the name people read). Regions without a boundary are left out."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": n.id, "properties": {"name": n.id, "label": n.name, "tier": n.tier.value},
             "geometry": geo.to_geojson(n.boundary)}
            for n in shown if n.boundary
        ],
    }  # fmt: skip


def json_bytes(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def etag_of(body: Mapping[str, Any]) -> str:
    return '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32] + '"'


def nearest_staff(directory: Directory, grid: str, ticket_type: str, tier: Tier, at: geo.Point,
                  positions: Sequence[Position]) -> list[dict[str, Any]]:  # fmt: skip
    """Who can take the case (`Directory.may_take`) and was last seen within `NEAR_M`, nearest first."""
    near = geo.nearest(((p.person_id, p.at) for p in positions), at, NEAR_M, limit=50)
    seen = {p.person_id: p.seen for p in positions}
    return [
        {"id": n.person_id, "name": directory.people[n.person_id].name, "metres": round(n.metres),
         "seen": seen[n.person_id].isoformat()}
        for n in near if directory.may_take(n.person_id, grid, ticket_type, tier)
    ][:10]  # fmt: skip


def since(now: datetime, seconds: float) -> datetime:
    return now - timedelta(seconds=seconds)
