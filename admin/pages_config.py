"""What admins edit: intent rules (with the gated retrain and model versions), escalation policies
(with a preview of a case's schedule), message templates and the holidays file (放假/调休 for years
chinese-calendar lacks). Each save is validated first, then
audited with the text before and after."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from admin.page import AdminPages
from bot.nlu.catalog import BUILTIN, IntentError, IntentFiles, IntentSpec, TicketSpec, dump_intent
from bot.nlu.training import TrainingError
from bot.nlu.versions import Busy, ModelManager
from bot.render import TemplateError, Templates
from escalation.calendar import LOCAL, Holidays, coverage_warning, library_covers, loaded_holidays
from escalation.policy import PolicyBook
from escalation.preview import preview

SAMPLE = {"ticket_id": 12, "type": "report_public_facility", "location": "3号楼东门", "text": "路灯坏了，晚上很黑",
          "note": "已联系电工", "rating": 5, "due": datetime(2026, 12, 4, 18, 0, tzinfo=LOCAL), "reporter": "张阿姨",
          "worker": "w-yg-1", "actor": "w-yg-1", "grid": "yg-1", "tier": "community", "state": "accepted",
          "phase": "resolve", "lines": "#12 路灯坏了（处理中）"}  # fmt: skip


def register(router: APIRouter, web: AdminPages) -> None:
    _intent_routes(router, web)
    _policy_routes(router, web)
    _template_routes(router, web)
    _holiday_routes(router, web)


def _files(web: AdminPages) -> IntentFiles:
    """404 when this deployment runs no such part (as `bot.api_nlu` answers), not 503 ("try later")."""
    if web.services.intents is None:
        raise HTTPException(404, "本部署未启用意图文件")
    return web.services.intents


def _models(web: AdminPages) -> ModelManager:
    if web.services.models is None:
        raise HTTPException(404, "本部署未启用模型管理（只用关键词规则）")
    return web.services.models


def _intent_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/intents", response_class=HTMLResponse)
    async def intents(request: Request) -> Response:
        who = await web.admin_only(request)
        catalog = _files(web).catalog()
        models = web.services.models
        return web.render(request, "admin/intents.html", who, intents=catalog.ordered(), builtin=BUILTIN,
                          job=models.job.to_json() if models else None,
                          versions=[asdict(r) for r in models.registry.all()] if models else [],
                          active=models.registry.active() if models else None)  # fmt: skip

    @router.get("/intents/{intent}", response_class=HTMLResponse)
    async def edit(request: Request, intent: str, name: str = "", report: bool = False) -> Response:
        who = await web.admin_only(request)
        spec = _spec(_files(web), intent, name, report)
        return web.render(request, "admin/intent.html", who, spec=spec, text=dump_intent(spec), error="", ok="")

    @router.post("/intents/{intent}")
    async def save(request: Request, intent: str) -> Response:
        who = await web.admin_only(request)
        form = await web.form(request, who)
        files = _files(web)
        spec = _from_form(_spec(files, intent, str(form.get("name") or ""), bool(form.get("report"))), form)
        text = dump_intent(spec)
        try:
            files.validate(intent, text)
        except IntentError as exc:
            return web.render(request, "admin/intent.html", who, 422, spec=spec, text=text, error=str(exc), ok="")
        if form.get("op") == "validate":
            return web.render(request, "admin/intent.html", who, spec=spec, text=text, error="",
                              ok=f"校验通过：{len(spec.examples)} 条例句，{len(spec.keywords)} 个关键词")  # fmt: skip
        before = _read(files, intent)
        files.write(intent, text)
        await web.audit(who, "intent.save", f"intent:{intent}", {"yaml": before}, {"yaml": text})
        started = _start(web, who)
        await web.audit(who, "nlu.train", "nlu", after={"started": started})
        return RedirectResponse("/admin/intents?saved=" + intent, status_code=303)

    @router.post("/nlu/train")
    async def train(request: Request) -> Response:
        who = await web.admin_only(request)
        await web.form(request, who)
        started = _start(web, who)
        await web.audit(who, "nlu.train", "nlu", after={"started": started})
        return RedirectResponse("/admin/intents", status_code=303)

    @router.get("/api/train")
    async def progress(request: Request) -> dict[str, Any]:
        await web.admin_only(request)
        models = _models(web)
        return {**models.job.to_json(), "active": models.registry.active()}

    @router.post("/nlu/models/{version}/activate")
    async def activate(request: Request, version: str) -> Response:
        who = await web.admin_only(request)
        await web.form(request, who)
        models = _models(web)
        if models.job.running:
            raise HTTPException(409, "训练任务运行中，请稍后再切换版本")
        before = models.registry.active()
        try:
            await models.activate(version)
        except (TrainingError, IntentError) as exc:
            raise HTTPException(404, f"没有这个模型版本：{exc}") from exc
        await web.audit(who, "nlu.activate", "nlu", {"active": before}, {"active": version})
        return RedirectResponse("/admin/intents", status_code=303)


def _start(web: AdminPages, who: Any) -> bool:
    try:
        _models(web).start()
        return True
    except Busy:
        return False


def _read(files: IntentFiles, intent: str) -> str:
    try:
        return files.read(intent)
    except (KeyError, IntentError):
        return ""


def _spec(files: IntentFiles, intent: str, name: str, report: bool) -> IntentSpec:
    try:
        catalog = files.catalog()
    except IntentError as exc:
        raise HTTPException(500, str(exc)) from exc
    found = catalog.intents.get(intent)
    if found is not None:
        return found
    if not name:
        raise HTTPException(404, "没有这个意图")
    return IntentSpec(intent=intent, name=name, examples=(), ticket=TicketSpec() if report else None)


def _lines(value: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(x.strip() for x in str(value or "").splitlines() if x.strip()))


def _from_form(spec: IntentSpec, form: Mapping[str, Any]) -> IntentSpec:
    """Examples and keywords one per line; synonyms `规范词: 同义词, 同义词` one per line."""
    synonyms: dict[str, tuple[str, ...]] = {}
    for line in _lines(form.get("synonyms")):
        canonical, _, variants = line.replace("：", ":").partition(":")
        synonyms[canonical.strip()] = tuple(v.strip() for v in variants.replace("，", ",").split(",") if v.strip())
    examples = tuple(x.removeprefix("- ").strip() for x in _lines(form.get("examples")))
    return replace(spec, name=str(form.get("name") or spec.name).strip()[:50],
                   description=str(form.get("description") or "").strip()[:500],
                   keywords=_lines(form.get("keywords")), synonyms=synonyms, examples=examples)  # fmt: skip


def _policy_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/policies", response_class=HTMLResponse)
    async def policies(request: Request) -> Response:
        who = await web.admin_only(request)
        p = request.query_params
        return _policy_page(web, request, who, web.admin.policies.read(), web.admin.live_policies(),
                            p.get("type", "report_public_facility"), p.get("at", ""), "", "")  # fmt: skip

    @router.post("/policies")
    async def save(request: Request) -> Response:
        who = await web.admin_only(request)
        form = await web.form(request, who)
        text, op = str(form.get("yaml") or ""), str(form.get("op") or "validate")
        kind, at = str(form.get("type") or ""), str(form.get("at") or "")
        try:
            book = web.admin.policies.parse(text)
        except ValueError as exc:
            return _policy_page(web, request, who, text, None, kind, at, f"校验失败：{exc}", "", 422)
        if op != "save":
            return _policy_page(web, request, who, text, book, kind, at, "", "校验通过（尚未保存）")
        before = web.admin.policies.read()
        web.admin.policies.save(text)
        await web.audit(who, "policies.save", "policies", {"yaml": before}, {"yaml": text})
        return _policy_page(web, request, who, text, book, kind, at, "", "已保存：新报事按新策略计时，进行中的工单不变")


def _policy_page(web: AdminPages, request: Request, who: Any, text: str, book: PolicyBook | None, kind: str, at: str,
                 error: str, ok: str, status: int = 200) -> Response:  # fmt: skip
    when = _when(at, web.admin.now())
    steps = preview(book, kind, when) if book is not None else []
    types = sorted(set(book.by_type) | {kind}) if book else [kind]
    warning = coverage_warning(when.astimezone(LOCAL).date())
    return web.render(request, "admin/policies.html", who, status, text=text, error=error, ok=ok, steps=steps,
                      warning=warning,
                      kind=kind, at=when.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"), types=types,
                      policy=book.for_type(kind) if book else None)  # fmt: skip


def _when(at: str, now: datetime) -> datetime:
    try:
        return datetime.fromisoformat(at).replace(tzinfo=LOCAL) if at else now
    except ValueError:
        return now


def _template_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/templates", response_class=HTMLResponse)
    async def templates(request: Request) -> Response:
        who = await web.admin_only(request)
        return _template_page(web, request, who, web.admin.templates.read(), "", "")

    @router.post("/templates")
    async def save(request: Request) -> Response:
        who = await web.admin_only(request)
        form = await web.form(request, who)
        text = str(form.get("yaml") or "")
        try:
            parsed = Templates.parse(text, "templates.yaml")
            missing = parsed.missing(web.services.renderer.templates)
            if missing:
                raise TemplateError(f"不能删除机器人要用的消息：{', '.join(missing)}")
        except TemplateError as exc:
            return _template_page(web, request, who, text, f"校验失败：{exc}", "", 422)
        if form.get("op") != "save":
            return _template_page(web, request, who, text, "", "校验通过（尚未保存）", preview=parsed)
        before = web.admin.templates.read()
        web.admin.templates.save(text)
        await web.audit(who, "templates.save", "templates", {"yaml": before}, {"yaml": text})
        return _template_page(web, request, who, text, "", "已保存，立即生效")


def _template_page(web: AdminPages, request: Request, who: Any, text: str, error: str, ok: str, status: int = 200,
                   preview: Templates | None = None) -> Response:  # fmt: skip
    renderer = web.services.renderer
    shown = preview or renderer.templates
    samples = []
    for key, template in shown.messages.items():
        try:
            fields = renderer.fields(SAMPLE)
            samples.append((key, template, template.format_map(fields)))
        except (KeyError, ValueError, IndexError) as exc:
            samples.append((key, template, f"（无法预览：{exc}）"))
    return web.render(request, "admin/templates.html", who, status, text=text, error=error, ok=ok, samples=samples)


MAX_HOLIDAYS_FILE = 64 * 1024


def _holiday_routes(router: APIRouter, web: AdminPages) -> None:
    @router.get("/holidays", response_class=HTMLResponse)
    async def holidays(request: Request) -> Response:
        who = await web.admin_only(request)
        return _holiday_page(web, request, who, web.admin.holidays.read(), loaded_holidays(), "", "")

    @router.post("/holidays")
    async def save(request: Request) -> Response:
        """Edit the text, or upload a file (it replaces the text); validate, then save and use it."""
        who = await web.admin_only(request)
        form = await web.form(request, who)
        text = str(form.get("yaml") or "")
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(MAX_HOLIDAYS_FILE + 1)
            if len(data) > MAX_HOLIDAYS_FILE:
                return _holiday_page(web, request, who, text, None, f"文件超过 {MAX_HOLIDAYS_FILE // 1024} KB", "", 413)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return _holiday_page(web, request, who, text, None, "文件不是 UTF-8 编码的 YAML", "", 422)
        try:
            parsed = web.admin.holidays.parse(text)
        except ValueError as exc:
            return _holiday_page(web, request, who, text, None, f"校验失败：{exc}", "", 422)
        if form.get("op") != "save":
            return _holiday_page(web, request, who, text, parsed, "", "校验通过（尚未保存）")
        before = web.admin.holidays.read()
        web.admin.holidays.save(text)
        await web.audit(who, "holidays.save", "holidays", {"yaml": before}, {"yaml": text})
        return _holiday_page(web, request, who, text, parsed, "", "已保存，立即生效：期限、催办和免打扰按新安排计算")


def _holiday_page(web: AdminPages, request: Request, who: Any, text: str, shown: Holidays | None, error: str,
                  ok: str, status: int = 200) -> Response:  # fmt: skip
    """The file, the coverage warning of what is in force, and per year who knows its arrangement."""
    today = web.admin.now().astimezone(LOCAL).date()
    holidays = shown or loaded_holidays()
    years = []
    for year in range(today.year - 1, today.year + 2):
        arrangement = holidays.years.get(year)
        years.append({"year": year, "library": library_covers(year),
                      "file": arrangement is not None and arrangement.published,
                      "off": len(arrangement.off) if arrangement else 0,
                      "workdays": len(arrangement.workdays) if arrangement else 0,
                      "source": arrangement.source if arrangement else ""})  # fmt: skip
    return web.render(request, "admin/holidays.html", who, status, text=text, error=error, ok=ok, years=years,
                      warning=coverage_warning(today))  # fmt: skip
