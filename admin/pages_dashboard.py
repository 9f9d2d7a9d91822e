"""指挥大屏: the command-centre dashboard, scoped to the signed-in account's jurisdiction."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from admin import dashboard
from admin.auth import Principal
from admin.page import AdminPages
from escalation.bulletin import namer
from escalation.calendar import coverage_warning, is_workday
from escalation.kpis import kpis
from tickets.model import ACTIVE_STATES

MAX_DAYS = 366


def register(router: APIRouter, web: AdminPages) -> None:
    @router.get("", response_class=HTMLResponse)
    async def page(request: Request, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30) -> Response:
        who = await web.who(request)
        figures = await figures_for(web, who, days)
        warning = coverage_warning(dashboard.local_day(web.admin.now()))  # holidays unknown ahead: loud
        return web.render(request, "admin/dashboard.html", who, figures=figures, days=days, calendar_warning=warning)

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
