"""The command centre's map (指挥大屏 地图): the live data of a node's regions, their boundaries apart (large,
cacheable by ETag), the nearest workers of a case and 就近派单. An officer sees their jurisdiction only: a
node outside it answers 404, the same as a node that does not exist.

- `GET /admin/api/map?node=` (hot, polled by the wall screen): regions with open/overdue counts, case
  points, hotspots, staff positions. SQL aggregates over open cases and the last 30 days only.
- `GET /admin/api/map/geo?node=`: the regions' GeoJSON, with an ETag (304 when unchanged).
- `GET /admin/api/map/near?ticket=`: who could take the case and was seen within 2 km of it.
- `POST /admin/tickets/{id}/nearby` (form: person): hand the case to one of them (audited).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from admin import actions, geomap
from admin.auth import Principal
from admin.page import AdminPages
from admin.pages_tickets import detail_page
from bot.inputs import RowId
from escalation.cases import StaleTicket
from tickets.directory import Directory
from tickets.model import Refused
from tickets.ports import UnitOfWork

NodeId = Annotated[str | None, Query(max_length=64)]


def register(router: APIRouter, web: AdminPages) -> None:
    @router.get("/api/map")
    async def map_data(request: Request, node: NodeId = None) -> dict[str, Any]:
        who = await web.who(request)
        directory = web.services.directory()
        scope, node = _scope(directory, who, node)
        return await live(web, directory, scope, node)

    @router.get("/api/map/geo")
    async def map_geo(request: Request, node: NodeId = None) -> Response:
        who = await web.who(request)
        directory = web.services.directory()
        _, node = _scope(directory, who, node)
        body = geomap.feature_collection(geomap.regions(directory, node))
        tag = geomap.etag_of(body)
        headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return Response(geomap.json_bytes(body), media_type="application/geo+json", headers=headers)

    @router.get("/api/map/near")
    async def near(request: Request, ticket: RowId) -> dict[str, Any]:
        who = await web.who(request)
        directory = web.services.directory()
        now = web.admin.now()
        async with web.services.uow() as uow:
            found = await uow.tickets.get(ticket)
            if found is None or (who.grids is not None and found.grid not in who.grids):
                raise HTTPException(404, "工单不存在，或不在您的辖区内")
            at = await geomap.point_of_case(uow, directory, found)
            seen = await uow.places.positions(geomap.since(now, web.admin.position_s)) if at else []
        people = geomap.nearest_staff(directory, found.grid, found.type, found.tier, at, seen) if at else []
        return {"ticket": found.id, "at": list(at) if at else None, "within_m": geomap.NEAR_M, "people": people}

    @router.post("/tickets/{ticket_id}/nearby")
    async def dispatch(request: Request, ticket_id: RowId) -> Response:
        who = await web.who(request)
        form = await web.form(request, who)
        person = str(form.get("person") or "")[:64]
        try:
            await actions.dispatch_nearby(web.services, who, ticket_id, person, web.admin.now(), web.admin.position_s)
        except actions.NotFound as exc:
            raise HTTPException(403, "工单不存在，或不在您的辖区内") from exc
        except actions.NotNearby as exc:
            return await detail_page(web, request, who, ticket_id, str(exc), 409)
        except Refused as exc:
            return await detail_page(
                web, request, who, ticket_id, web.services.renderer.render(exc.reason, exc.params), 409
            )
        except StaleTicket:
            return await detail_page(web, request, who, ticket_id, "工单刚刚被其他人更新，请确认后重试", 409)
        return RedirectResponse(f"/admin/tickets/{ticket_id}?done=reassign", status_code=303)


def _scope(directory: Directory, who: Principal, node: str | None) -> tuple[geomap.Scope, str | None]:
    """The account's scope and the node to draw (none asked: where the account's map opens). A node outside
    the scope, or unknown, is 404: never data."""
    scope = geomap.scope_of(directory, who.account.person_id, who.grids is None)
    if scope is None or (node is not None and not scope.sees(directory, node)):
        raise HTTPException(404, "没有这个网格，或不在您的辖区内")
    return scope, node or geomap.default_node(directory, scope)


async def live(web: AdminPages, directory: Directory, scope: geomap.Scope, node: str | None) -> dict[str, Any]:
    """The hot half of the map: counts, points, hotspots and positions of the regions of `node`."""
    shown = geomap.regions(directory, node)
    owner = geomap.grids_under(directory, [n.id for n in shown])
    everything = (
        scope.root is None
        and (node is None or directory.nodes[node].parent is None)
        and len(directory.children(None)) <= 1
    )  # the whole platform: no grid filter in SQL (a list of every grid would only slow it)
    grids = None if everything else sorted(owner)
    now = web.admin.now()
    type_name = web.services.renderer.type_name
    async with web.services.uow() as uow:
        counts = await live_counts(uow, grids, now)
        cases = await uow.places.live_cases(grids, geomap.MAX_POINTS)
        recurring = await uow.places.recurring(grids, geomap.since(now, geomap.HOTSPOT_DAYS * 86400), 1)
        positions = await uow.places.positions(geomap.since(now, web.admin.position_s))
    return {
        "node": _node_json(directory, node),
        "path": _path(directory, node, scope),
        "regions": geomap.region_rows(shown, owner, counts),
        "cases": geomap.case_rows(directory, cases, type_name),
        "cases_capped": len(cases) >= geomap.MAX_POINTS,
        "hotspots": geomap.hotspots(directory, recurring, type_name),
        "workers": geomap.worker_rows(directory, positions, node),
        "geo": f"/admin/api/map/geo?node={node}" if node else "/admin/api/map/geo",
        "tiles": web.admin.map_tiles,
        "hotspot_rule": {"at_least": geomap.HOTSPOT_AT, "days": geomap.HOTSPOT_DAYS},
    }


async def live_counts(uow: UnitOfWork, grids: list[str] | None, now: datetime) -> dict[str, tuple[int, int]]:
    """(open, overdue) per grid: the live counts' SQL aggregate over active cases (indexed `due_at`)."""
    out: dict[str, tuple[int, int]] = {}
    for row in await uow.tickets.live_counts(grids, now):
        opened, overdue = out.get(row.grid, (0, 0))
        out[row.grid] = (opened + row.count, overdue + row.overdue)
    return out


def _node_json(directory: Directory, node: str | None) -> dict[str, Any] | None:
    if node is None:
        return None
    n = directory.nodes[node]
    return {"id": n.id, "name": n.name, "tier": n.tier.value}


def _path(directory: Directory, node: str | None, scope: geomap.Scope) -> list[dict[str, str]]:
    """The way back up (面包屑), from the account's top down to `node`, never above the account's node."""
    if node is None:
        return []
    chain = list(reversed(directory.chain(node)))
    if scope.root is not None:
        chain = chain[[n.id for n in chain].index(scope.root) :]
    return [{"id": n.id, "name": n.name} for n in chain]
