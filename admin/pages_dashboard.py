"""指挥大屏: the command-centre dashboard, scoped to the signed-in account's jurisdiction."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from admin import dashboard, exports
from admin.auth import Principal
from admin.page import AdminPages
from escalation.bulletin import namer
from escalation.calendar import coverage_warning, is_workday
from escalation.kpis import kpis
from escalation.routines import month_bounds, previous_month
from tickets.model import ACTIVE_STATES

MAX_DAYS = 366
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def register(router: APIRouter, web: AdminPages) -> None:
    @router.get("", response_class=HTMLResponse)
    async def page(request: Request, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30) -> Response:
        who = await web.who(request)
        figures = await figures_for(web, who, days)
        warning = coverage_warning(dashboard.local_day(web.admin.now()))  # holidays unknown ahead: loud
        return web.render(request, "admin/dashboard.html", who, figures=figures, days=days, calendar_warning=warning)

    @router.get("/kpis.{fmt}")
    async def kpi_export(
        request: Request, fmt: str, month: Annotated[str | None, Query(pattern=MONTH)] = None
    ) -> Response:
        """The month's assessment figures (escalation/kpis.py) of the account's jurisdiction: one row per
        department, tier and grid, CSV or XLSX."""
        who = await web.who(request)
        if fmt not in ("csv", "xlsx"):
            raise HTTPException(404)
        period = month or previous_month(dashboard.local_day(web.admin.now()))
        start, end, _ = month_bounds(period)
        scope = sorted(who.grids) if who.grids is not None else []
        found, events = [], {}
        if who.grids is None or who.grids:
            async with web.services.uow() as uow:
                found = await uow.tickets.created_between(start, end, scope)
                events = await uow.tickets.events_of([t.id for t in found])
        body = kpis(found, events).to_json(namer(web.services.directory()))
        rows = exports.kpi_rows(body, web.services.renderer.name)
        await web.audit(who, "kpis.export", "kpis", after={"format": fmt, "month": period, "rows": len(rows)})
        data, media = exports.table_file(fmt, "考核", exports.KPI_COLUMNS, rows)
        headers = {"Content-Disposition": f'attachment; filename="kpis-{period}.{fmt}"'}
        return Response(data, media_type=media, headers=headers)

    @router.get("/api/dashboard")
    async def data(request: Request, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30) -> dict[str, Any]:
        return await figures_for(web, await web.who(request), days)


async def figures_for(web: AdminPages, who: Principal, days: int) -> dict[str, Any]:
    now = web.admin.now()
    today = dashboard.local_day(now)
    period = dashboard.Period(today - timedelta(days=days - 1), today)
    start, end = period.bounds()
    scope = sorted(who.grids) if who.grids is not None else []
    if who.grids is not None and not who.grids:
        created, live, events, checkins = [], [], {}, []
    else:
        async with web.services.uow() as uow:
            created = await uow.tickets.created_between(start, end, scope)
            live = await uow.tickets.find(states=sorted(ACTIVE_STATES), grids=scope, limit=1_000_000)
            events = await uow.tickets.events_of([t.id for t in created])
            checkins = await uow.records.checked_in(period.start.isoformat(), period.end.isoformat())
    directory = web.services.directory()
    names = web.services.renderer
    workdays = sum(is_workday(d) for d in period.days)
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "days": days},
        "summary": dashboard.summary(created, events),
        "standing": dashboard.standing(live, now),
        "trend": dashboard.trend(period, created, events),
        "by_type": dashboard.by_type(created, names.type_name),
        "grids": dashboard.grid_table(directory, who.grids, created, events, live, now),
        "workers": dashboard.worker_activity(directory, who.grids, created, events, live, checkins, workdays),
        "kpis": kpis(created, events).to_json(namer(directory)),
        "tier_names": {t: names.name("tier", t) for t in ("grid", "community", "township", "district", "department")},
    }
