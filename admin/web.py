"""The admin and command-centre web (/admin): the router with the login, and every page module's routes.

Server-rendered Jinja2 pages with a little JavaScript; see `admin/page.py` for what every page shares.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from admin import pages_config, pages_dashboard, pages_map, pages_ops, pages_points, pages_tickets
from admin.auth import LoginRefused
from admin.page import COOKIE, LOGIN_COOKIE, AdminPages, read_form
from admin.services import AdminServices
from bot.services import Services

# The directory upload may be larger than the HTTP edge's default body limit (`bot.app.MAX_BODY`):
# the file's own limit plus room for the multipart envelope and the other fields.
BODY_LIMITS = {"/admin/directory/import": pages_ops.MAX_UPLOAD + 64 * 1024}


def build_router(services: Services, admin: AdminServices) -> APIRouter:
    web = AdminPages(services, admin)
    router = APIRouter(prefix="/admin", include_in_schema=False)
    _login_routes(router, web)
    for module in (pages_dashboard, pages_tickets, pages_config, pages_ops, pages_points, pages_map):
        module.register(router, web)
    return router


def _login_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/admin") -> Response:  # noqa: A002 - the query's name
        return _login_form(web, request, next, "")

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        target = _safe_next(str(form.get("next") or "/admin"))
        token = str(form.get("login_token") or "")
        if not token or not secrets.compare_digest(token.encode(), request.cookies.get(LOGIN_COOKIE, "").encode()):
            return _login_form(web, request, target, _expired(web, request), 403)
        address = request.client.host if request.client else "?"
        try:
            session, _ = await web.admin.auth.login(str(form.get("username") or ""), str(form.get("password") or ""),
                                                    address)  # fmt: skip
        except LoginRefused as exc:
            return _login_form(web, request, target, str(exc), 401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict", secure=web.admin.secure_cookies,
                            max_age=12 * 3600, path="/")  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE, path="/admin", secure=web.admin.secure_cookies, httponly=True,
                               samesite="strict")  # fmt: skip
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        who = await web.who(request)
        await web.form(request, who)
        await web.admin.auth.logout(request.cookies.get(COOKIE))
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=web.admin.secure_cookies, httponly=True, samesite="strict")
        return response


def _login_form(web: AdminPages, request: Request, target: str, error: str, status: int = 200) -> Response:
    token = secrets.token_urlsafe(16)
    response = web.render(request, "admin/login.html", None, status, next=_safe_next(target), error=error,
                          login_token=token)  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/admin", max_age=3600,
                        secure=web.admin.secure_cookies)  # fmt: skip
    return response


def _expired(web: AdminPages, request: Request) -> str:
    """The login form's token came back without its cookie. Over plain HTTP with Secure cookies the
    browser never sends it: say so, or an admin of an HTTP-only site keeps retrying in vain."""
    if web.admin.secure_cookies and request.url.scheme == "http" and LOGIN_COOKIE not in request.cookies:
        return (
            "页面已过期，请重新输入。若一直出现此提示：后台 Cookie 只经 HTTPS 发送"
            "（GRIDBOT_ADMIN_SECURE_COOKIES），请用 https:// 访问后台；"
            "仅在没有 HTTPS 的内网部署中才把它设为 false。"
        )
    return "页面已过期，请重新输入"


def _safe_next(target: str) -> str:
    """Only our own pages: no open redirect to another site."""
    return target if target.startswith("/admin") and not target.startswith("//") else "/admin"
