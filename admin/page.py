"""What every admin page shares: the `AdminPages` helper (principal, CSRF, rendering, audit), the navigation,
the template filters. The pages (`admin/pages_*.py`) and the router (`admin/web.py`) import it.

Every page needs a signed-in account (303 to /admin/login otherwise); every POST needs the
session's CSRF token; officers see and act on their jurisdiction's micro-grids only; every change
goes into the audit log. Jinja2 autoescapes, so whatever a resident wrote is shown as text.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from admin.auth import Principal
from admin.services import AdminServices
from bot.messages import storable
from bot.services import Services
from escalation.calendar import LOCAL
from tickets.accounts import AccountRole, AuditEntry

COOKIE = "gridbot_admin"
ADMIN_DIR = Path(__file__).resolve().parent
LOGIN_COOKIE = "gridbot_login"
ROLE_NAMES = {AccountRole.ADMIN: "系统管理员", AccountRole.DISTRICT: "区指挥中心", AccountRole.TOWNSHIP: "街道（乡镇）",
              AccountRole.COMMUNITY: "社区（村）"}  # fmt: skip
NAV = [  # (path, label, admins only)
    ("/admin", "指挥大屏", False), ("/admin/tickets", "工单", False), ("/admin/bulletins", "月度通报", False),
    ("/admin/directory", "网格名录", True), ("/admin/intents", "意图规则", True), ("/admin/policies", "时限策略", True),
    ("/admin/holidays", "节假日", True), ("/admin/points", "积分", False),
    ("/admin/templates", "消息模板", True), ("/admin/outbox", "发送队列", True), ("/admin/accounts", "账号", True),
    ("/admin/audit", "操作日志", True),
]  # fmt: skip


class AdminPages:
    """What every admin page needs: the services, the signed-in principal, rendering, CSRF, audit."""

    def __init__(self, services: Services, admin: AdminServices) -> None:
        self.services = services
        self.admin = admin
        self.pages = Jinja2Templates(directory=str(ADMIN_DIR / "templates"))
        self.pages.env.globals.update(role_names=ROLE_NAMES, nav=NAV)
        self.pages.env.filters["local"] = _local_time
        self.pages.env.filters["pct"] = _pct
        self.pages.env.filters["pretty"] = _pretty

    async def who(self, request: Request) -> Principal:
        principal = await self.admin.auth.principal(request.cookies.get(COOKIE))
        if principal is None:
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            raise HTTPException(303, "请先登录", headers={"Location": f"/admin/login?next={target}"})
        return principal

    async def admin_only(self, request: Request) -> Principal:
        who = await self.who(request)
        if not who.is_admin:
            raise HTTPException(403, "只有系统管理员可以使用这个页面")
        return who

    async def form(self, request: Request, who: Principal) -> Mapping[str, Any]:
        """The posted form, after checking its CSRF token against the session's."""
        form = await read_form(request)
        token = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
        if not secrets.compare_digest(token.encode(), who.csrf.encode()):
            raise HTTPException(403, "页面已过期或来源不明（CSRF 校验失败），请刷新后重试")
        return form

    def render(self, request: Request, name: str, who: Principal | None, code: int = 200, **context: Any) -> Response:
        context.update(who=who, path=request.url.path, names=self.services.renderer)
        return self.pages.TemplateResponse(request, name, context, status_code=code)

    async def audit(self, who: Principal, action: str, target: str, before: Mapping[str, object] | None = None,
                    after: Mapping[str, object] | None = None) -> None:  # fmt: skip
        async with self.services.uow() as uow:
            await uow.accounts.audit(AuditEntry(self.admin.now(), who.account.username, action, target,
                                                dict(before or {}), dict(after or {})))  # fmt: skip


async def read_form(request: Request) -> dict[str, Any]:
    """The posted fields as storable text (`bot.messages.storable`: no NUL, no lone surrogate), so what
    an admin posts is stored, searched and compared alike on SQLite and PostgreSQL (PostgreSQL refuses
    NUL in text); an uploaded file stays as it came."""
    form = await request.form()
    return {key: storable(value) if isinstance(value, str) else value for key, value in form.multi_items()}


def _local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(LOCAL).strftime(fmt) if value else ""


def _pct(value: object) -> str:
    return f"{float(value) * 100:.1f}%" if isinstance(value, int | float) else "—"


def _pretty(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)
