"""Operations pages: the grid directory (tree, people, chat bindings; YAML and Excel both ways),
the outbox and its dead letters, monthly bulletins, accounts and the audit log."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import yaml
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from admin import exports
from admin.auth import Principal
from admin.dashboard import tree_order
from admin.page import AdminPages
from bot import bulletin_pdf
from bot.inputs import RowId
from bot.outbox import outbox_counts, outbox_entries, retry_dead
from escalation.bulletin import grids_under
from tickets.accounts import OFFICER_ROLES, AccountError
from tickets.directory import Directory, DirectoryError, Role
from tickets.ports import Bulletin, Delivery

MAX_UPLOAD = 10 * 1024 * 1024
FORM_OVERHEAD = 64 * 1024  # the multipart envelope and the other fields around the file
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def register(router: APIRouter, web: AdminPages) -> None:
    _directory_routes(router, web)
    _outbox_routes(router, web)
    _bulletin_routes(router, web)
    _account_routes(router, web)


def _directory_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/directory", response_class=HTMLResponse)
    async def directory(request: Request) -> Response:
        who = await web.admin_only(request)
        return await _directory_page(web, request, who, "", request.query_params.get("imported", ""))

    @router.get("/directory/export.{fmt}")
    async def export(request: Request, fmt: str) -> Response:
        await web.admin_only(request)
        d = web.services.directory()
        if fmt == "yaml":
            text = yaml.safe_dump(web.admin.directory_io.dump_yaml(d), allow_unicode=True, sort_keys=False)
            return Response(text, media_type="application/x-yaml; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="grids.yaml"'})  # fmt: skip
        if fmt == "xlsx":
            return Response(exports.directory_xlsx(d), media_type=exports.XLSX_TYPE,
                            headers={"Content-Disposition": 'attachment; filename="grids.xlsx"'})  # fmt: skip
        raise HTTPException(404)

    @router.post("/directory/import")
    async def upload(request: Request) -> Response:
        who = await web.admin_only(request)
        if _declared_size(request) > MAX_UPLOAD + FORM_OVERHEAD:  # refused before the body is read and spooled
            return await _directory_page(web, request, who, f"文件超过 {MAX_UPLOAD // 2**20} MB", status=413)
        form = await web.form(request, who)
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return await _directory_page(web, request, who, "请选择要导入的 YAML 或 Excel 文件", status=422)
        data = await file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return await _directory_page(web, request, who, "文件超过 10 MB", status=413)
        try:  # seconds of CPU for a large workbook: in a thread, the chats go on meanwhile
            new = await asyncio.to_thread(_parse_upload, web, file.filename, data)
        except (exports.SheetError, DirectoryError, ValueError) as exc:
            return await _directory_page(web, request, who, f"导入失败，名录未改动：{exc}", status=422)
        before = web.services.directory()
        await web.admin.directory_io.replace(new)
        await web.audit(who, "directory.import", "directory", _counts(before),
                        {**_counts(new), "file": file.filename})  # fmt: skip
        return RedirectResponse(f"/admin/directory?imported={len(new.nodes)}", status_code=303)


def _declared_size(request: Request) -> int:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else 0


def _parse_upload(web: AdminPages, filename: str, data: bytes) -> Directory:
    if filename.lower().endswith(".xlsx"):
        return exports.directory_from_xlsx(data)
    if not filename.lower().endswith((".yaml", ".yml")):
        raise ValueError("只支持 .yaml / .yml / .xlsx 文件")
    return web.admin.directory_io.parse_yaml(yaml_document(data))


def yaml_document(data: bytes) -> Any:
    """An uploaded grid YAML, parsed with libyaml when it is installed (the pure-Python parser takes
    seconds per megabyte), without anchors and aliases: `*a` repeats a whole subtree by reference, so
    a few kilobytes can stand for millions of grids once the directory is walked. A grid file never
    needs them; the refusal says so."""
    try:
        document = yaml.load(data.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"不是有效的 UTF-8 YAML：{exc}") from exc
    seen: set[int] = set()
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:
                raise ValueError("名录文件不能使用 YAML 锚点和别名（& 与 *），请把内容写全")
            seen.add(id(item))
            pending.extend(item.values() if isinstance(item, dict) else item)
    return document


def _counts(d: Directory) -> dict[str, int]:
    return {"nodes": len(d.nodes), "people": len(d.people), "departments": len(d.departments)}


async def _directory_page(web: AdminPages, request: Request, who: Principal, error: str, ok: str = "",
                          status: int | None = None) -> Response:  # fmt: skip
    d = web.services.directory()
    async with web.services.uow() as uow:
        bindings = await uow.channels.bindings()
    by_chat: dict[str, list[str]] = {}
    for channel, external, chat in bindings:
        shown = f"…{external[-4:]}" if channel == "wecom-webhook" else external  # a robot's key is its credential
        by_chat.setdefault(chat, []).append(f"{channel}:{shown}")
    tree = _tree_rows(d)
    code = status or (422 if error else 200)
    return web.render(request, "admin/directory.html", who, code, tree=tree, directory=d, bindings=by_chat,
                      error=error, ok=f"已导入 {ok} 个网格节点" if ok else "")  # fmt: skip


def _tree_rows(d: Directory) -> list[dict[str, Any]]:
    rows = []
    for node_id, depth in tree_order(d):
        node = d.nodes[node_id]
        staff = [p for p in d.people.values() if p.node == node_id]
        rows.append({"node": node, "depth": depth, "people": staff})
    return rows


PLATFORM_NAMES = {"telegram": "Telegram", "wechat": "微信公众号", "wecom": "企业微信"}


def _outbox_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/outbox", response_class=HTMLResponse)
    async def outbox(request: Request, status: str = "dead") -> Response:
        who = await web.admin_only(request)
        wanted = Delivery.PENDING if status == "pending" else Delivery.DEAD
        async with web.services.uow() as uow:
            rows = await outbox_entries(uow, wanted, 500)
            counts = await outbox_counts(uow)
            pushes = await uow.city.by_status(wanted, 200)  # the city platform's (12345) push outbox
            push_counts = await uow.city.counts()
        return web.render(
            request,
            "admin/outbox.html",
            who,
            rows=rows,
            status=wanted.value,
            counts=counts,
            platform_names=PLATFORM_NAMES,
            pushes=pushes,
            push_counts=push_counts,
        )

    @router.post("/outbox/city/{push_id}/retry")
    async def retry_push(request: Request, push_id: RowId) -> Response:
        """A dead push to the city platform back in the queue, due at once."""
        who = await web.admin_only(request)
        await web.form(request, who)
        async with web.services.uow() as uow:
            if not await uow.city.retry(push_id):
                raise HTTPException(404, "没有这条失败的推送")
        await web.audit(who, "city_push.retry", f"city_push:{push_id}", {"status": "dead"}, {"status": "pending"})
        return RedirectResponse("/admin/outbox", status_code=303)

    @router.post("/outbox/{message_id}/retry")
    async def retry(request: Request, message_id: RowId) -> Response:
        who = await web.admin_only(request)
        await web.form(request, who)
        async with web.services.uow() as uow:
            if not await retry_dead(uow, message_id, web.admin.now()):
                raise HTTPException(404, "没有这条失败消息")
        await web.audit(who, "outbox.retry", f"message:{message_id}", {"status": "dead"}, {"status": "pending"})
        web.services.cases.committed()
        return RedirectResponse("/admin/outbox", status_code=303)


def _visible(web: AdminPages, who: Principal, b: Bulletin) -> bool:
    if who.grids is None:
        return True
    grids = set(grids_under(web.services.directory(), b.scope))
    return bool(grids) and grids <= who.grids


def _bulletin_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/bulletins", response_class=HTMLResponse)
    async def bulletins(request: Request) -> Response:
        who = await web.who(request)
        async with web.services.uow() as uow:
            kept = [b for b in await uow.records.bulletins(500) if _visible(web, who, b)]
        return web.render(request, "admin/bulletins.html", who, bulletins=kept, error="")

    @router.post("/bulletins")
    async def generate(request: Request) -> Response:
        who = await web.admin_only(request)
        form = await web.form(request, who)
        month = str(form.get("month") or "")
        if not _MONTH.match(month) or web.services.routines is None:
            raise HTTPException(422, "月份格式应为 2026-11")
        ids = await web.services.routines.monthly_bulletin(month, force=True)
        await web.audit(who, "bulletin.generate", f"bulletin:{month}", after={"ids": ids})
        return RedirectResponse("/admin/bulletins", status_code=303)

    @router.get("/bulletins/{bulletin_id}", response_class=HTMLResponse)
    async def bulletin(request: Request, bulletin_id: RowId) -> Response:
        who = await web.who(request)
        found = await _bulletin(web, who, bulletin_id)
        return web.render(request, "admin/bulletin.html", who, b=found, body=found.body)

    @router.get("/bulletins/{bulletin_id}/pdf")
    async def pdf(request: Request, bulletin_id: RowId) -> Response:
        found = await _bulletin(web, await web.who(request), bulletin_id)
        try:
            data = await asyncio.to_thread(bulletin_pdf.render_pdf, found, web.services.renderer.name,
                                           web.services.pdf_font)  # fmt: skip
        except bulletin_pdf.FontMissing as exc:
            raise HTTPException(503, str(exc)) from exc
        headers = {"Content-Disposition": f'attachment; filename="{bulletin_pdf.filename(found)}"'}
        return Response(data, media_type="application/pdf", headers=headers)

    @router.get("/bulletins/{bulletin_id}/text")
    async def text(request: Request, bulletin_id: RowId) -> PlainTextResponse:
        found = await _bulletin(web, await web.who(request), bulletin_id)
        name = f"bulletin-{found.period}-{found.scope}.txt"
        return PlainTextResponse(found.text, headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def _bulletin(web: AdminPages, who: Principal, bulletin_id: int) -> Bulletin:
    async with web.services.uow() as uow:
        found = await uow.records.bulletin(bulletin_id)
    if found is None or not _visible(web, who, found):
        raise HTTPException(403, "通报不存在，或不在您的辖区内")
    return found


def _account_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/accounts", response_class=HTMLResponse)
    async def accounts(request: Request) -> Response:
        who = await web.admin_only(request)
        return await _accounts_page(web, request, who, "", "")

    @router.post("/accounts")
    async def create(request: Request) -> Response:
        who = await web.admin_only(request)
        form = await web.form(request, who)
        op, username = str(form.get("op") or "create"), str(form.get("username") or "")
        auth = web.admin.auth
        try:
            if op == "create":
                await auth.create(who.account.username, username, str(form.get("person_id") or ""),
                                  str(form.get("password") or ""))  # fmt: skip
            elif op == "password":
                await auth.set_password(who.account.username, username, str(form.get("password") or ""))
            elif op in ("disable", "enable"):
                await auth.set_disabled(who.account.username, username, op == "disable")
            else:
                raise AccountError("未知的操作")
        except AccountError as exc:
            return await _accounts_page(web, request, who, str(exc), "", 422)
        return await _accounts_page(web, request, who, "", f"已完成：{username}")

    @router.get("/audit", response_class=HTMLResponse)
    async def audit(request: Request, page: int = 1, target: str = "") -> Response:
        who = await web.admin_only(request)
        page = max(1, min(page, 10_000))
        async with web.services.uow() as uow:
            entries = await uow.accounts.audit_log(100, (page - 1) * 100, target or None)
        return web.render(request, "admin/audit.html", who, entries=entries, page=page, target=target)


def _serves_a_node(d: Directory, node: str | None) -> bool:
    """Officers of a district, township or community may have an account (department staff act in chat)."""
    return node is not None and node in d.nodes and d.nodes[node].tier in OFFICER_ROLES


async def _accounts_page(web: AdminPages, request: Request, who: Principal, error: str, ok: str,
                         status: int = 200) -> Response:  # fmt: skip
    async with web.services.uow() as uow:
        accounts = await uow.accounts.all()
    d = web.services.directory()
    eligible = [p for p in d.people.values() if p.role is Role.ADMIN or _serves_a_node(d, p.node)]
    return web.render(request, "admin/accounts.html", who, status, accounts=accounts, people=eligible,
                      directory=d, error=error, ok=ok)  # fmt: skip
