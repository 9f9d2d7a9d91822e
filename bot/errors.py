"""Every HTTP error is JSON `{"error": "中文 / English"}`."""

from __future__ import annotations

from html import escape
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

MESSAGES = {
    400: "请求无效 / bad request",
    401: "未授权：缺少或错误的令牌 / unauthorized: missing or wrong token",
    403: "禁止访问 / forbidden",
    404: "未找到 / not found",
    405: "不支持的方法 / method not allowed",
    413: "内容过长 / payload too large",
    415: "不支持的内容类型 / unsupported media type",
    422: "请求格式错误 / malformed request",
    429: "请求过多，请稍后再试 / too many requests",
    # Not "the message was kept": a failure may come before the message is stored. A retry with the
    # same client_id is always safe (it is answered once).
    500: "服务器内部错误，请稍后重试 / internal error, please retry",
    503: "服务暂不可用 / service unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, error: str | None = None) -> None:
        super().__init__(error or MESSAGES.get(status, "error"))
        self.status = status
        self.error = error or MESSAGES.get(status, "error")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"error": MESSAGES[422], "detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        """JSON for API clients; a short Chinese page for a browser (the admin web). Headers are
        kept, so a 303 with `Location` redirects (the admin's login gate)."""
        error = _error_of(exc)
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_page(exc.status_code, error), status_code=exc.status_code, headers=exc.headers)
        return JSONResponse({"error": error}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": MESSAGES[500]}, status_code=500)


def _error_of(exc: StarletteHTTPException) -> str:
    """Our own Chinese detail if one was given; the standard message for the framework's own errors
    (their details are English only, e.g. FastAPI's "There was an error parsing the body")."""
    detail = str(exc.detail or "")
    if detail and not detail.isascii():
        return detail
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = ""
    return MESSAGES.get(exc.status_code, detail or phrase)


def _page(status: int, error: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>gridbot</title>'
        '<link rel="stylesheet" href="/static/admin.css"><body class="error-page"><main>'
        f"<h1>{status}</h1><p>{escape(error)}</p>"
        '<p><a href="/admin">返回后台首页</a></p></main></body></html>'
    )
