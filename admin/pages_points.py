"""积分: the 平安超市's points per grid and month (each account's points by rule, the month's total,
its balance), the redemptions recorded here (who, what, how many points; never more than the
balance; each in the audit log) and a CSV export. Officers see and record their jurisdiction only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from admin import dashboard, exports
from admin.auth import Principal
from admin.page import AdminPages
from escalation.routines import month_bounds
from tickets.accounts import AuditEntry
from tickets.directory import Directory, Role
from tickets.model import Tier
from tickets.points import STAFF, PointsError, Redemption, Row, Rule, month_table, redeem

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
RULES = list(Rule)


@dataclass(frozen=True)
class View:
    month: str
    node: str = ""

    @classmethod
    def of(cls, values: Any, now: datetime) -> View:
        month = str(values.get("month") or "").strip()
        node = str(values.get("node") or "").strip()[:64]
        return cls(month if _MONTH.match(month) else dashboard.local_day(now).strftime("%Y-%m"), node)

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in (("month", self.month), ("node", self.node)) if v})


def register(router: APIRouter, web: AdminPages) -> None:
    @router.get("/points", response_class=HTMLResponse)
    async def page(request: Request) -> Response:
        who = await web.who(request)
        view = View.of(request.query_params, web.admin.now())
        return await _page(web, request, who, view, done=request.query_params.get("done", ""))

    @router.post("/points/redeem")
    async def record(request: Request) -> Response:
        who = await web.who(request)
        form = await web.form(request, who)
        view = View.of(form, web.admin.now())
        try:
            await _redeem(web, who, form)
        except PointsError as exc:
            return await _page(web, request, who, view, error=str(exc), form=form, status=422)
        return RedirectResponse(f"/admin/points?{view.query()}&done=redeemed", status_code=303)

    @router.get("/points/export.csv")
    async def export(request: Request) -> Response:
        who = await web.who(request)
        view = View.of(request.query_params, web.admin.now())
        grids, tables, _ = await _tables(web, who, view)
        d, names = web.services.directory(), web.services.renderer
        columns = ["网格", "姓名", "账号", "身份", *(names.name("points_rule", r.value) for r in RULES), "本月合计",
                   "可用积分"]  # fmt: skip
        rows = [[d.nodes[g].name, names.person_name(r.person), r.person, role_of(d, r), *(r.by_rule.get(k, 0)
                 for k in RULES), r.total, r.balance.available] for g in grids for r in tables.get(g, [])]  # fmt: skip
        await web.audit(
            who, "points.export", "points", after={"month": view.month, "node": view.node, "rows": len(rows)}
        )
        headers = {"Content-Disposition": f'attachment; filename="points-{view.month}.csv"'}
        return Response(exports.to_csv(columns, rows), media_type="text/csv; charset=utf-8", headers=headers)


def grids_of(directory: Directory, who: Principal, node: str) -> list[str]:
    """The micro-grids the page covers: under `node` (all when empty), within the principal's jurisdiction."""
    grids = [
        n.id
        for n in directory.nodes.values()
        if n.tier is Tier.GRID and (not node or node in {a.id for a in directory.chain(n.id)})
    ]
    return sorted(g for g in grids if who.grids is None or g in who.grids)


def role_of(directory: Directory, row: Row) -> str:
    if row.scope != STAFF:
        return "居民"
    person = directory.person(row.person)
    if person is None:
        return "工作人员"
    if person.role is Role.WORKER:
        return "网格员"
    if any(person.id in d.people for d in directory.departments):
        return "职能部门"
    node = directory.nodes.get(person.node or "")
    return {Tier.COMMUNITY: "社区干部", Tier.TOWNSHIP: "街道（乡镇）干部", Tier.DISTRICT: "区指挥中心"}.get(
        node.tier if node else Tier.GRID, "管理员" if person.role is Role.ADMIN else "工作人员"
    )


async def _tables(
    web: AdminPages, who: Principal, view: View
) -> tuple[list[str], dict[str, list[Row]], list[Redemption]]:
    d = web.services.directory()
    grids = grids_of(d, who, view.node)
    if not grids:
        return [], {}, []
    start, end, _ = month_bounds(view.month)
    scope = None if who.grids is None and not view.node else grids
    staff_of = {g: [p.id for p in d.workers_of(g)] for g in grids}
    async with web.services.uow() as uow:
        sums = await uow.points.sums(scope, start, end)
        accounts = {(p, s) for _, p, s, _, _ in sums} | {(p, STAFF) for people in staff_of.values() for p in people}
        balances = await uow.points.balances(sorted(accounts))
        redemptions = await uow.points.redemptions(scope, start, end)
    return grids, month_table(sums, balances, staff_of), redemptions


async def _page(web: AdminPages, request: Request, who: Principal, view: View, *, done: str = "", error: str = "",
                form: Any = None, status: int = 200) -> Response:  # fmt: skip
    grids, tables, redemptions = await _tables(web, who, view)
    d = web.services.directory()
    covered = None if who.grids is None else {a.id for g in who.grids if g in d.nodes for a in d.chain(g)}
    nodes = [(n, depth) for n, depth in dashboard.tree_order(d) if covered is None or n in covered]
    people = sorted({r.person for rows in tables.values() for r in rows})
    return web.render(request, "admin/points.html", who, status, view=view, grids=grids, tables=tables,
                      redemptions=redemptions, directory=d, nodes=nodes, rules=RULES, people=people,
                      policy=web.admin.points_policy(), role_of=role_of, done=done, error=error,
                      form=form or {})  # fmt: skip


async def _redeem(web: AdminPages, who: Principal, form: Any) -> int:
    """Record a redemption: the grid must be the principal's; the account is the person's staff account
    (a directory person who serves the grid or earned there) or the resident's account in that grid."""
    d = web.services.directory()
    grid, person = str(form.get("grid") or ""), str(form.get("person") or "").strip()[:128]
    if grid not in d.nodes or d.nodes[grid].tier is not Tier.GRID or (who.grids is not None and grid not in who.grids):
        raise HTTPException(403, "网格不存在，或不在您的辖区内")
    scope = STAFF if d.person(person) is not None else grid
    amount = str(form.get("points") or "").strip()
    now = web.admin.now()
    async with web.services.uow() as uow:
        await uow.points.lock(person, scope)
        if scope == STAFF and not d.serves(person, grid) and (person, scope) not in await uow.points.accounts_in(grid):
            raise PointsError(f"{d.nodes[grid].name}没有 {person} 的积分账户")
        balance = await uow.points.balance(person, scope)
        done = redeem(balance, person, scope, grid, str(form.get("item") or ""), _whole(amount), now,
                      who.account.username)  # fmt: skip
        rid = await uow.points.redeem(done)
        after = {"grid": grid, "item": done.item, "points": done.points, "balance": balance.available - done.points}
        await uow.accounts.audit(AuditEntry(now, who.account.username, "points.redeem", f"points:{person}",
                                            {"balance": balance.available}, {**after, "redemption": rid}))  # fmt: skip
    return rid


def _whole(value: str) -> int:
    return int(value) if value.isdigit() and len(value) <= 9 else 0
