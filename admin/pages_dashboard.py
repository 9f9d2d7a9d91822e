"""指挥大屏: the command-centre dashboard, scoped to the signed-in account's jurisdiction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from admin import dashboard, exports
from admin.auth import Principal
from admin.page import AdminPages
from escalation import figures
from escalation.bulletin import namer
from escalation.calendar import coverage_warning, is_workday
from escalation.routines import month_bounds, monthly_bodies, previous_month
from tickets import rollups
from tickets.directory import Directory
from tickets.model import Tier
from tickets.ports import LiveCount, UnitOfWork

MAX_DAYS = 366
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
NodeId = Annotated[str | None, Query(max_length=64)]  # the heat table from this node down


def register(router: APIRouter, web: AdminPages) -> None:
    @router.get("", response_class=HTMLResponse)
    async def page(
        request: Request, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30, node: NodeId = None
    ) -> Response:
        who = await web.who(request)
        figures = await figures_for(web, who, days, node)
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
        days = dashboard.Period(dashboard.local_day(start), dashboard.local_day(end) - timedelta(days=1))
        directory = web.services.directory()
        async with web.services.uow() as uow:
            sums, scope = await _sums(uow, directory, figures.scope_of(directory, who.grids), days)
            f = await figures.read_period(sums, directory, scope, days.start, days.end, grid_kpis=True)
        body = f.kpis(directory).to_json(namer(directory))
        rows = exports.kpi_rows(body, web.services.renderer.name)
        await web.audit(who, "kpis.export", "kpis", after={"format": fmt, "month": period, "rows": len(rows)})
        data, media = exports.table_file(fmt, "考核", exports.KPI_COLUMNS, rows)
        headers = {"Content-Disposition": f'attachment; filename="kpis-{period}.{fmt}"'}
        return Response(data, media_type=media, headers=headers)

    @router.get("/api/grids")
    async def grids(
        request: Request, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30, node: NodeId = None
    ) -> Response:
        """The whole heat table of the jurisdiction (every node, no cut), for exports and the wall screen."""
        who = await web.who(request)
        period, directory = _period(web, days), web.services.directory()
        async with web.services.uow() as uow:
            sums, scope = await _sums(uow, directory, figures.scope_of(directory, who.grids), period)
            f = await figures.read_period(sums, directory, scope, period.start, period.end)
            live = await _live(uow, scope, web.admin.now())
        rows, _ = dashboard.heat_rows(directory, scope, f, live, node, limit=None)
        return JSONResponse(
            {"period": {"start": period.start.isoformat(), "end": period.end.isoformat()}, "grids": rows}
        )

    @router.get("/api/bulletin")
    async def bulletin_preview(request: Request, month: Annotated[str | None, Query(pattern=MONTH)] = None) -> Response:
        """The month's bulletins (月度通报) of the jurisdiction's district and townships, as the 5th's
        routine would write them (nothing is kept or sent)."""
        who = await web.who(request)
        period = month or previous_month(dashboard.local_day(web.admin.now()))
        directory = web.services.directory()
        scope = figures.scope_of(directory, who.grids)
        mine = set(scope.nodes)
        tops = [n for n in directory.nodes.values() if n.tier in (Tier.DISTRICT, Tier.TOWNSHIP)
                and (rollups.ROOT in mine or any(a.id in mine for a in directory.chain(n.id)))]  # fmt: skip
        async with web.services.uow() as uow:
            bodies = await monthly_bodies(uow, directory, period, tops)
        return JSONResponse({"period": period, "bulletins": [body for _, body in bodies]})

    @router.get("/api/dashboard")
    async def data(
        request: Request, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 30, node: NodeId = None
    ) -> Response:
        return JSONResponse(await figures_for(web, await web.who(request), days, node))


async def figures_for(web: AdminPages, who: Principal, days: int, focus: str | None = None) -> dict[str, Any]:
    """The dashboard's figures for the account's jurisdiction: period counts from the rollups (a
    jurisdiction of single grids: from its cases), live counts from the open cases."""
    now = web.admin.now()
    period = _period(web, days)
    directory = web.services.directory()
    scope = figures.scope_of(directory, who.grids)
    grids = None if scope.grids is None else sorted(scope.grids)
    async with web.services.uow() as uow:
        sums, scope = await _sums(uow, directory, scope, period)
        live = await _live(uow, scope, now)
        in_hand = await uow.tickets.in_hand(grids) if grids is None or grids else {}
        shape = dashboard.heat_order(directory, scope, focus)  # the figures of the rows shown only
        shown, _ = dashboard.shown_workers(directory, scope, in_hand)
        f = await figures.read_period(sums, directory, scope, period.start, period.end, table=shape.nodes,
                                      people=shown)  # fmt: skip
    names = web.services.renderer
    workdays = sum(is_workday(d) for d in period.days)
    heat, cut = dashboard.heat_rows(directory, scope, f, live, focus, shape=shape)
    workers, staff = dashboard.rollup_workers(directory, scope, f, in_hand, workdays)
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "days": days},
        "summary": rollups.case_figures(f.total),
        "standing": dashboard.live_standing(live),
        "trend": dashboard.rollup_trend(period, f),
        "by_type": dashboard.rollup_types(f, names.type_name),
        "grids": heat,
        "grids_cut": cut,
        "focus": focus,
        "workers": workers,
        "workers_total": staff,
        "kpis": f.kpis(directory).to_json(namer(directory)),  # no per-grid rows: /admin/kpis.csv, /api/v1/kpis
        "tier_names": {t: names.name("tier", t) for t in ("grid", "community", "township", "district", "department")},
    }


def _period(web: AdminPages, days: int) -> dashboard.Period:
    today = dashboard.local_day(web.admin.now())
    return dashboard.Period(today - timedelta(days=days - 1), today)


async def _live(uow: UnitOfWork, scope: figures.Scope, now: datetime) -> list[LiveCount]:
    """Active cases of the jurisdiction per grid × tier × state (indexed, open cases only)."""
    if scope.grids is not None and not scope.grids:
        return []
    return await uow.tickets.live_counts(None if scope.grids is None else sorted(scope.grids), now)


async def _sums(
    uow: UnitOfWork, directory: Directory, scope: figures.Scope, period: dashboard.Period
) -> tuple[figures.Sums, figures.Scope]:
    """The rollups for whole nodes; for a jurisdiction of single grids, rows built from its cases
    (created in the period, or closed in it) read as the whole (the root)."""
    if scope.whole:
        return uow.figures.sums, scope
    start, end = period.bounds()
    grids = sorted(scope.grids or ())
    cases = await uow.tickets.created_between(start, end, grids)
    seen = {t.id for t in cases}
    closed = {i for i, _ in await uow.tickets.events_between(start, end, ["closed"])} - seen
    cases += [t for t in [await uow.tickets.get(i) for i in sorted(closed)] if t and t.grid in grids]
    history = await uow.tickets.events_of([t.id for t in cases])
    checkins = await uow.records.checked_in(period.start.isoformat(), period.end.isoformat())
    sums = figures.memory_sums([(t, history[t.id]) for t in cases], checkins, directory)
    return sums, figures.Scope((rollups.ROOT,), scope.grids, True)
