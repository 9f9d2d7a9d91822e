"""工单: search and filter (every dashboard number links here), one case's timeline and messages,
officers' actions, and CSV/XLSX exports of the filtered list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from admin import actions, dashboard, exports
from admin.auth import Principal
from admin.page import AdminPages
from bot.api import deadlines_json
from bot.inputs import RowId
from escalation import planner
from escalation.cases import StaleTicket
from tickets import verification
from tickets.directory import Directory, Person
from tickets.model import ACTIVE_STATES, Phase, Refused, Ticket, TicketEvent, TicketState, Tier
from tickets.ports import TicketQuery

PAGE = 50
STATE_GROUPS = [("open", "未办结"), ("overdue", "超时未办"), ("done", "已办结")]
EXPORT_PAGE = 2_000  # cases per page of an export (one short transaction each)


@dataclass(frozen=True)
class Filters:
    state: str = ""  # a TicketState, or a group: open | overdue | done
    type: str = ""
    node: str = ""  # any node of the grid tree: its micro-grids
    tier: str = ""
    day: str = ""  # created on this local day (YYYY-MM-DD)
    since: str = ""  # created on or after this local day
    q: str = ""
    page: int = 1

    @classmethod
    def of(cls, request: Request) -> Filters:
        p = request.query_params

        def text(key: str) -> str:
            return p.get(key, "").strip()[:100]

        page = p.get("page", "1")
        number = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
        return cls(state=text("state"), type=text("type"), node=text("node"), tier=text("tier"), day=text("day"),
                   since=text("since"), q=text("q"), page=number)  # fmt: skip

    def query_string(self, **changes: Any) -> str:
        from urllib.parse import urlencode

        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)})


def register(router: APIRouter, web: AdminPages) -> None:
    @router.get("/tickets", response_class=HTMLResponse)
    async def listing(request: Request) -> Response:
        who = await web.who(request)
        filters = Filters.of(request)
        found, total = await search(web, who, filters, PAGE, (filters.page - 1) * PAGE)
        pages = max(1, -(-total // PAGE))
        return web.render(request, "admin/tickets.html", who, tickets=found, total=total, filters=filters,
                          pages=pages, directory=web.services.directory(), overdue=_overdue_ids(web, found),
                          state_groups=STATE_GROUPS, types=_types(web), tiers=[t.value for t in Tier])  # fmt: skip

    @router.get("/tickets/export.{fmt}")
    async def export(request: Request, fmt: str) -> Response:
        """Every matching case, streamed a page at a time (memory stays flat for a million rows)."""
        who = await web.who(request)
        if fmt not in ("csv", "xlsx"):
            raise HTTPException(404)
        filters = Filters.of(request)
        query = query_of(web, who, replace(filters, page=1), EXPORT_PAGE)
        names, d = web.services.renderer, web.services.directory()

        def rows(found: list[Ticket]) -> list[list[object]]:
            return exports.ticket_rows(found, names.name, names.person_name,
                                       lambda g: d.nodes[g].name if g in d.nodes else g, names.category_code,
                                       lambda dep: _department_name(d, dep))  # fmt: skip

        async def pages() -> AsyncIterator[list[list[object]]]:
            before: int | None = None
            while True:
                async with web.services.uow() as uow:
                    found = await uow.tickets.page(replace(query, before_id=before))
                if not found:
                    return
                yield rows(found)
                before = found[-1].id

        stamp = dashboard.local_day(web.admin.now()).isoformat()
        await web.audit(who, "tickets.export", "tickets", after={"format": fmt, "filters": filters.query_string()})
        headers = {"Content-Disposition": f'attachment; filename="tickets-{stamp}.{fmt}"'}
        stream, media = exports.table_stream(fmt, "工单", exports.TICKET_COLUMNS, pages())
        return StreamingResponse(stream, media_type=media, headers=headers)

    @router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
    async def detail(request: Request, ticket_id: RowId) -> Response:
        who = await web.who(request)
        return await detail_page(web, request, who, ticket_id, "", 200)

    @router.post("/tickets/{ticket_id}/action")
    async def act(request: Request, ticket_id: RowId) -> Response:
        who = await web.who(request)
        form = await web.form(request, who)
        action = str(form.get("action") or "")
        if action not in actions.ACTIONS:
            raise HTTPException(422, "未知的操作")
        try:
            await actions.act(web.services, who, ticket_id, action, str(form.get("argument") or ""),
                              str(form.get("note") or ""), web.admin.now())  # fmt: skip
        except actions.NotFound as exc:
            raise HTTPException(403, "工单不存在，或不在您的辖区内") from exc
        except Refused as exc:
            text = web.services.renderer.render(exc.reason, exc.params)
            return await detail_page(web, request, who, ticket_id, text, 409)
        except StaleTicket:
            return await detail_page(web, request, who, ticket_id, "工单刚刚被其他人更新，请确认后重试", 409)
        return RedirectResponse(f"/admin/tickets/{ticket_id}?done={action}", status_code=303)


async def search(web: AdminPages, who: Principal, f: Filters, limit: int, offset: int) -> tuple[list[Ticket], int]:
    async with web.services.uow() as uow:
        return await uow.tickets.search(query_of(web, who, f, limit, offset))


def query_of(web: AdminPages, who: Principal, f: Filters, limit: int, offset: int = 0) -> TicketQuery:
    """The filters as a query; `overdue`: the live cases whose deadline has passed (`tickets.due_at`)."""
    start, end = _days(f)
    overdue = web.admin.now() if f.state == "overdue" else None
    return TicketQuery(grids=_grids(web, who, f.node), types=(f.type,) if f.type else (), tiers=_tiers(f.tier),
                       text=f.q, states=_states(f.state), limit=limit, offset=offset, created_from=start,
                       created_to=end, overdue_at=overdue)  # fmt: skip


def _grids(web: AdminPages, who: Principal, node: str) -> frozenset[str] | None:
    d = web.services.directory()
    if not node:
        return who.grids
    mine = frozenset(n.id for n in d.nodes.values() if n.tier is Tier.GRID and node in {a.id for a in d.chain(n.id)})
    return mine if who.grids is None else mine & who.grids


def _states(state: str) -> tuple[TicketState, ...]:
    if state in ("open", "overdue"):
        return tuple(sorted(ACTIVE_STATES))
    if state == "done":
        return (TicketState.CLOSED,)
    try:
        return (TicketState(state),) if state else ()
    except ValueError:
        return ()


def _tiers(tier: str) -> tuple[Tier, ...]:
    try:
        return (Tier(tier),) if tier else ()
    except ValueError:
        return ()


def _days(f: Filters) -> tuple[datetime | None, datetime | None]:
    def parse(value: str) -> date | None:
        try:
            return date.fromisoformat(value) if value else None
        except ValueError:
            return None

    day, since = parse(f.day), parse(f.since)
    if day is not None:
        return dashboard.Period(day, day).bounds()
    if since is not None:
        return dashboard.Period(since, since).bounds()[0], None
    return None, None


def _overdue_ids(web: AdminPages, found: list[Ticket]) -> set[int]:
    now = web.admin.now()
    return {t.id for t in found if dashboard.is_overdue(t, now)}


def _types(web: AdminPages) -> list[tuple[str, str]]:
    names = web.services.renderer
    catalog = web.services.intents.catalog() if web.services.intents else None
    keys = [*catalog.reports(), "consult"] if catalog else []
    return [(k, names.type_name(k)) for k in keys]


def _due(ticket: Ticket) -> datetime | None:
    live = ticket.state in ACTIVE_STATES and ticket.clock.phase is not Phase.NONE
    return planner.phase_end(ticket) if live else None


async def detail_page(
    web: AdminPages, request: Request, who: Principal, ticket_id: int, error: str, status: int
) -> Response:
    async with web.services.uow() as uow:
        ticket = await uow.tickets.get(ticket_id)
        if ticket is None or (who.grids is not None and ticket.grid not in who.grids):
            raise HTTPException(403, "工单不存在，或不在您的辖区内")
        events = await uow.tickets.events(ticket_id)
        messages = await uow.messages.of_ticket(ticket_id, 500)
    d = web.services.directory()
    workers = [(p, _serves_as(d, p)) for p in d.assignable(ticket.grid, ticket.type, ticket.tier)]  # as enforced
    path = " / ".join(n.name for n in reversed(d.chain(ticket.grid))) if ticket.grid in d.nodes else ticket.grid
    return web.render(request, "admin/ticket.html", who, status, ticket=ticket, events=events, messages=messages,
                      deadlines=deadlines_json(ticket), due=_due(ticket), directory=d, workers=workers, error=error,
                      done=request.query_params.get("done", ""), actions=actions.ACTIONS,
                      overdue=dashboard.is_overdue(ticket, web.admin.now()),
                      grid_path=path, department=_department_name(d, ticket.department),
                      photos=photos(ticket, events))  # fmt: skip


def _department_name(d: Directory, department: str | None) -> str:
    return next((x.name for x in d.departments if x.id == department), department or "")


def photos(ticket: Ticket, events: list[TicketEvent]) -> dict[str, list[dict[str, object]]]:
    """处置前 (the report's and the residents' photos) and 处置后 (every photo staff sent), each with
    whether the page may show it inline (only the web chat's own media, as the chat page does)."""

    def shown(found: list[Mapping[str, object]]) -> list[dict[str, object]]:
        return [{**a, "inline": str(a.get("url", "")).startswith("/chat/media/")} for a in found]

    before, after = verification.before_photos(events), verification.staff_photos(ticket, events)
    return {"before": shown(before), "after": shown(after)}


def _serves_as(d: Directory, person: Person) -> str:
    """Where a reassign candidate serves, for the form: their node, or their department."""
    if person.node is not None and person.node in d.nodes:
        return d.nodes[person.node].name
    return next((dept.name for dept in d.departments if person.id in dept.people), "")
