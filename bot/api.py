"""HTTP API v1 (stable contract; see README "HTTP API")."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, model_validator

from bot import bulletin_pdf
from bot.api_city import build_city_router
from bot.api_nlu import build_nlu_router
from bot.dispatcher import UnknownChat
from bot.errors import ApiError
from bot.inputs import Cursor, RowId
from bot.interpret import route, understood
from bot.messages import Attachment, AttachmentKind, Handled, InboundMessage, reserved_sender
from bot.nlu.chain import FallbackNlu
from bot.nlu.evaluate import situation_of
from bot.nlu.metrics import Row
from bot.nlu.port import Parse
from bot.outbox import outbox_counts, outbox_entries, retry_dead
from bot.services import Services
from escalation import figures, planner
from escalation.bulletin import activity, missing_checkins, namer
from escalation.routines import local_day, month_bounds, previous_month
from tickets import rollups, verification
from tickets.model import Phase, Ticket, TicketEvent, TicketState, Tier
from tickets.ports import Bulletin, Delivery, StoredMessage
from tickets.transitions import is_live

PAGE = 500
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


MAX_ATTACHMENTS = 9


class AttachmentIn(BaseModel):
    """A photo (`url`: where the channel keeps it) or a shared place (`lat`, `lng`, optional `label`)."""

    kind: Literal["image", "location"]
    url: str = Field(default="", max_length=2000)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    label: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def complete(self) -> Self:
        if self.kind == "image" and not self.url.strip():
            raise ValueError("an image needs its url")
        if self.kind == "location" and (self.lat is None or self.lng is None):
            raise ValueError("a location needs lat and lng")
        return self

    def to_attachment(self) -> Attachment:
        return Attachment(AttachmentKind(self.kind), self.url.strip(), self.lat, self.lng, self.label.strip())


class PostMessage(BaseModel):
    sender: str = Field(max_length=128)  # the width of `messages.sender`
    text: str = ""
    reply_to: RowId | None = None
    client_id: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class ParseRequest(BaseModel):
    text: str
    # Optional: read it as the dialogue layer would in this situation (`reading` in the answer).
    role: Literal["resident", "worker", "officer"] | None = None
    context: Literal["", "reply_to_ticket_post", "awaiting_location", "after_resolve"] | None = None
    draft_type: str | None = None  # with awaiting_location: the type of the report waiting for its place


class BulletinRequest(BaseModel):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")


def build_router(services: Services) -> APIRouter:
    async def guard(authorization: Annotated[str | None, Header()] = None) -> None:  # async: no thread hop
        if not authorised(services, authorization):
            raise ApiError(401)

    router = APIRouter(prefix="/api/v1")
    guarded = APIRouter(dependencies=[Depends(guard)])

    @guarded.get("/directory")
    async def directory() -> dict[str, Any]:
        return directory_json(services)

    @guarded.post("/chats/{chat_id}/messages", status_code=201, response_class=JSONResponse)
    async def post_message(chat_id: str, body: PostMessage) -> JSONResponse:
        """The hot path: `bot.fastpath.MessageFastPath` answers the requests that pass every check
        without FastAPI's machinery; this route answers the rest (and documents the contract)."""
        return await answer_message(services, chat_id, body)

    @guarded.get("/chats/{chat_id}/messages")
    async def chat_messages(chat_id: str, after: Cursor = 0) -> dict[str, Any]:
        if services.directory().grid_for_chat(chat_id) is None:
            raise ApiError(404, "未知的群聊 / unknown chat")
        async with services.uow() as uow:
            rows = await uow.messages.chat(chat_id, after, PAGE)
        return {"messages": [message_json(m) for m in rows]}

    @guarded.get("/people/{person_id}/inbox")
    async def inbox(person_id: str, after: Cursor = 0) -> dict[str, Any]:
        if services.directory().person(person_id) is None:
            raise ApiError(404, "未知的人员 / unknown person")
        async with services.uow() as uow:
            rows = await uow.messages.inbox(person_id, after, PAGE)
        return {"messages": [message_json(m) for m in rows]}

    @guarded.get("/tickets/{ticket_id}")
    async def ticket(ticket_id: RowId) -> dict[str, Any]:
        async with services.uow() as uow:
            found = await uow.tickets.get(ticket_id)
            if found is None:
                raise ApiError(404, "未知的工单 / unknown ticket")
            events = await uow.tickets.events(ticket_id)
        return ticket_json(found, events)

    @guarded.get("/tickets")
    async def tickets(
        chat_id: str | None = None,
        state: TicketState | None = None,
        type: str | None = None,  # noqa: A002 - the API's field name
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        async with services.uow() as uow:
            found = await uow.tickets.find(
                chat_id=chat_id, states=[state] if state else [], ticket_type=type, limit=limit
            )
        return {"tickets": [ticket_json(t) for t in found]}

    @guarded.get("/checkins")
    async def checkins(day: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None) -> dict[str, Any]:
        """报平安 on a day (default today, Beijing time): who checked in, rates per community and township."""
        on = day or local_day(utcnow()).isoformat()
        async with services.uow() as uow:
            rows = await uow.records.checked_in(on, on)
        d = services.directory()
        done = {p for p, _ in rows}
        acts = activity(d, rows, [on], [Tier.COMMUNITY, Tier.TOWNSHIP, Tier.DISTRICT])
        return {"day": on, "checked_in": sorted(done), "missing": missing_checkins(d, done),
                "by_node": [a.to_json() for a in acts]}  # fmt: skip

    @guarded.get("/outbox")
    async def outbox(
        status: Delivery = Delivery.DEAD, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> dict[str, Any]:
        """Outbound messages by delivery state: `dead` (gave up after the last attempt) by default."""
        if status not in (Delivery.PENDING, Delivery.SENT, Delivery.DEAD):
            raise ApiError(422, "status 只能是 pending / sent / dead")
        async with services.uow() as uow:
            rows = await outbox_entries(uow, status, limit)
        return {"messages": [{**message_json(e.message), "status": status.value, "platform": e.platform,
                              "attempts": e.attempts, "error": e.error, "chat_id": e.message.chat_id,
                              "person_id": e.message.person_id} for e in rows]}  # fmt: skip

    @guarded.post("/outbox/{message_id}/retry")
    async def retry(message_id: RowId) -> dict[str, Any]:
        async with services.uow() as uow:
            if not await retry_dead(uow, message_id, utcnow()):
                raise ApiError(404, "没有这条失败消息 / no dead letter with this id")
        return {"message_id": message_id, "status": "pending"}

    @guarded.get("/kpis")
    async def kpis_of(
        month: Annotated[str | None, Query(pattern=MONTH)] = None, scope: str | None = None
    ) -> dict[str, Any]:
        """The assessment figures (escalation/kpis.py) of a month (default: the previous one) per
        department, tier and grid, for the whole platform or the grids under one node."""
        period = month or previous_month(local_day(utcnow()))
        d = services.directory()
        if scope is not None and scope not in d.nodes:
            raise ApiError(404, "未知的节点 / unknown node")
        start, end, _ = month_bounds(period)
        whole = figures.Scope((scope or rollups.ROOT,), None, True)
        async with services.uow() as uow:
            f = await figures.read_period(uow.figures.sums, d, whole, local_day(start),
                                          local_day(end - timedelta(days=1)), grid_kpis=True)  # fmt: skip
        return {"month": period, "scope": scope, **f.kpis(d).to_json(namer(d))}

    @guarded.get("/bulletins")
    async def bulletins() -> dict[str, Any]:
        async with services.uow() as uow:
            kept = await uow.records.bulletins()
        return {"bulletins": [bulletin_json(b, with_body=False) for b in kept]}

    @guarded.post("/bulletins", status_code=201)
    async def make_bulletin(body: BulletinRequest) -> dict[str, Any]:
        """Generate (or regenerate) the monthly bulletins of a month now."""
        if services.routines is None:
            raise ApiError(503)
        ids = await services.routines.monthly_bulletin(body.month, force=True)
        return {"ids": ids}

    @guarded.get("/bulletins/{bulletin_id}")
    async def one_bulletin(bulletin_id: RowId) -> dict[str, Any]:
        return bulletin_json(await _bulletin(services, bulletin_id), with_body=True)

    @guarded.get("/bulletins/{bulletin_id}/text")
    async def bulletin_text(bulletin_id: RowId) -> PlainTextResponse:
        found = await _bulletin(services, bulletin_id)
        filename = f"bulletin-{found.period}-{found.scope}.txt"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return PlainTextResponse(found.text, headers=headers)

    @guarded.get("/bulletins/{bulletin_id}/pdf")
    async def bulletin_pdf(bulletin_id: RowId) -> Response:
        """The bulletin as a PDF (Chinese font embedded, charts drawn); 503 when the font is missing."""
        found = await _bulletin(services, bulletin_id)
        return await pdf_response(services, found)

    @guarded.post("/nlu/parse")
    async def parse(body: ParseRequest) -> dict[str, Any]:
        check_length(services, body.text)
        result = await services.nlu.parse(body.text)
        answer = {
            "intent": result.intent,
            "confidence": round(result.confidence, 4),
            "entities": [
                {"entity": e.entity, "start": e.start, "end": e.end, "value": e.value} for e in result.entities
            ],
            "source": result.source,
            "urgent": result.urgent,
            "emergency": result.emergency,
            "report_hint": result.report_hint,
            "hint_confidence": round(result.hint_confidence, 4),
            "prior": result.prior,
            "ranking": list(result.ranking),
        }
        if body.role or body.context:
            answer |= reading_json(services, body, result)
        return answer

    router.include_router(guarded)
    router.include_router(build_nlu_router(services, guard))
    router.include_router(build_city_router(services, guard))
    router.add_api_route("/healthz", health_route(services), methods=["GET"])
    return router


def reading_json(services: Services, body: ParseRequest, parsed: Parse) -> dict[str, Any]:
    """What the bot would do with the text said by `role` in `context` (the dialogue layer)."""
    is_report = services.nlu.catalog.is_report if isinstance(services.nlu, FallbackNlu) else _is_report
    row = Row(body.text, body.draft_type or "", role=body.role or "", context=body.context or "",
              note=f"draft: {body.draft_type}" if body.draft_type else "")  # fmt: skip
    situation = situation_of(row, is_report)
    key = route(parsed, body.text, situation, is_report)
    return {"reading": understood(key, parsed, body.text, situation), "route": key.value}


def _is_report(intent: str) -> bool:
    return intent.startswith("report_")


def readiness_route(services: Services) -> Any:
    async def readyz() -> JSONResponse:
        """Ready for traffic: the database answers and the scheduler runs; the NLU may be degraded
        (the keyword rules answer), unlike /healthz which wants everything ok."""
        database = await services.health.database()
        nlu = await services.health.nlu()
        ready = database and services.health.scheduler() and nlu in ("ok", "degraded")
        return JSONResponse({"ready": ready, "nlu": nlu}, status_code=200 if ready else 503)

    return readyz


def metrics_route(services: Services) -> Any:
    async def metrics() -> Response:
        async def standing() -> dict[str, dict[str, int]]:
            async with services.uow() as uow:
                counts = await uow.tickets.counts()
                return {**counts, "outbox": await outbox_counts(uow), "city_pushes": await uow.city.counts()}

        body = await services.metrics.render(standing)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return metrics


async def _bulletin(services: Services, bulletin_id: int) -> Bulletin:
    async with services.uow() as uow:
        found = await uow.records.bulletin(bulletin_id)
    if found is None:
        raise ApiError(404, "未知的通报 / unknown bulletin")
    return found


async def pdf_response(services: Services, b: Bulletin) -> Response:
    """The PDF download of `b`; rendered in a thread (a CJK font and charts take a while)."""
    try:
        data = await asyncio.to_thread(bulletin_pdf.render_pdf, b, services.renderer.name, services.pdf_font)
    except bulletin_pdf.FontMissing as exc:
        raise ApiError(503, str(exc)) from exc
    headers = {"Content-Disposition": f'attachment; filename="{bulletin_pdf.filename(b)}"'}
    return Response(data, media_type="application/pdf", headers=headers)


def bulletin_json(b: Bulletin, with_body: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": b.id, "kind": b.kind, "period": b.period, "scope": b.scope,
                           "created_at": b.created_at.isoformat()}  # fmt: skip
    if with_body:
        out.update(body=dict(b.body), text=b.text)
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)


def health_route(services: Services) -> Any:
    async def healthz() -> JSONResponse:
        database = await services.health.database()
        nlu = await services.health.nlu()
        scheduler = services.health.scheduler()
        ready = database and nlu == "ok" and scheduler
        status = "ok" if ready else ("degraded" if database and scheduler and nlu == "degraded" else "starting")
        body: dict[str, Any] = {
            "status": status,
            "database": "ok" if database else "down",
            "nlu": nlu,
            "scheduler": "ok" if scheduler else "stopped",
        }
        warning = services.health.calendar()  # a warning, not a failure: the bot still works, holidays aside
        body["calendar"] = "gap" if warning else "ok"
        if warning:
            body["detail"] = {"calendar": warning}
        return JSONResponse(body, status_code=200 if ready else 503)

    return healthz


def check_length(services: Services, text: str) -> None:
    if len(text) > services.max_text:
        raise ApiError(413, f"消息超过 {services.max_text} 字 / text longer than {services.max_text} characters")
    if not text.strip():
        raise ApiError(422, "消息不能为空 / text must not be empty")


async def answer_message(services: Services, chat_id: str, body: PostMessage) -> JSONResponse:
    """`Server-Timing: nlu;dur=…` tells how much of the handling the NLU parse took (benchmarks).
    The answer is rendered here, not by FastAPI's response validation (the hot path)."""
    attachments = tuple(a.to_attachment() for a in body.attachments)
    message = InboundMessage(chat_id, body.sender.strip(), body.text, body.reply_to, body.client_id,
                             attachments=attachments)  # fmt: skip
    handled = await dispatch(services, message)
    timing = {"Server-Timing": f"nlu;dur={handled.nlu_s * 1000:.2f}"}
    return JSONResponse(handled_json(handled), status_code=201, headers=timing)


def authorised(services: Services, authorization: str | None) -> bool:
    """A `Bearer` token equal to the API token (compared in constant time)."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(token.encode(), services.api_token.encode())


async def dispatch(services: Services, message: InboundMessage) -> Handled:
    if not (message.attachments and not message.text.strip()):  # a bare photo or place has no text
        check_length(services, message.text)
    if not message.sender:
        raise ApiError(422, "缺少发送人 / sender must not be empty")
    if reserved_sender(message.sender):
        raise ApiError(422, "发送人名字是系统保留的 / this sender name is reserved")
    try:
        return await services.dispatcher.handle(message)
    except UnknownChat as exc:
        raise ApiError(404, "未知的群聊 / unknown chat") from exc


def handled_json(handled: Handled) -> dict[str, Any]:
    return {
        "message_id": handled.message_id,
        "replies": [{"message_id": r.message_id, "text": r.text, "ticket_id": r.ticket_id} for r in handled.replies],
    }


def message_json(m: StoredMessage) -> dict[str, Any]:
    return {
        "message_id": m.id,
        "sender": m.sender,
        "text": m.text,
        "ticket_id": m.ticket_id,
        "reply_to": m.reply_to,
        "created_at": m.created_at.isoformat(),
        "attachments": [dict(a) for a in m.attachments],
    }


def directory_json(services: Services) -> dict[str, Any]:
    d = services.directory()
    return {
        "nodes": [
            {"id": n.id, "name": n.name, "tier": n.tier.value, "parent": n.parent, "chat_id": n.chat_id}
            for n in d.nodes.values()
        ],
        "people": [{"id": p.id, "name": p.name, "role": p.role.value, "node": p.node} for p in d.people.values()],
        "departments": [{"id": x.id, "name": x.name, "people": list(x.people)} for x in d.departments],
    }


def ticket_json(t: Ticket, events: list[TicketEvent] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": t.id,
        "type": t.type,
        "state": t.state.value,
        "tier": t.tier.value,
        "grid": t.grid,
        "chat_id": t.chat_id,
        "reporter": t.reporter,
        "assignee": t.assignee,
        "location": t.location,
        "text": t.text,
        "created_at": t.created_at.isoformat(),
        "deadlines": deadlines_json(t),
        "rating": t.rating,
        "ratings": dict(t.ratings),
        "followers": list(t.followers),
        "close_reason": t.close_reason.value if t.close_reason else None,
        "reopens": t.reopens,
        "suspension": t.suspension,
        "urgent": t.urgent,
        "department": t.department,
        "returns": t.returns,
        "dispatch": dispatch_json(t),
        "extension": extension_json(t),
        "external_id": t.external_id,
        "subtype": {"id": t.subtype.id, "name": t.subtype.name, "code": t.subtype.code} if t.subtype else None,
        "reworks": t.reworks,
        "verify_pending": t.verify_pending,
    }
    if events is not None:
        body["photos"] = {"before": verification.before_photos(events), "after": verification.staff_photos(t, events)}
        body["events"] = [
            {"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "detail": dict(e.detail)} for e in events
        ]
    return body


def dispatch_json(t: Ticket) -> dict[str, Any] | None:
    """The department holding the case (派单, 签收, 指定), or None."""
    held = t.dispatch
    if held is None:
        return None
    return {"department": held.department, "by": held.by, "tier": held.tier.value, "at": held.at.isoformat(),
            "signed_by": held.signed_by, "signed_at": held.signed_at.isoformat() if held.signed_at else None,
            "final": held.final}  # fmt: skip


def extension_json(t: Ticket) -> dict[str, Any] | None:
    """A 延期申请 waiting for a decision, or None (an approved one is the deadline in `deadlines`)."""
    asked = t.extension
    if asked is None:
        return None
    return {"until": asked.until.isoformat(), "reason": asked.reason, "by": asked.by, "at": asked.at.isoformat()}


def deadlines_json(t: Ticket) -> dict[str, Any]:
    clock = t.clock
    nxt = planner.next_due(t)
    steps = planner.schedule(t)
    step = steps[clock.step] if nxt is not None and clock.step < len(steps) else None
    phase_end = planner.phase_end(t)
    return {
        "policy": t.policy.name,
        "phase": clock.phase.value,
        "due_at": phase_end.isoformat() if clock.phase is not Phase.NONE and is_live(t) else None,
        "next_at": nxt.isoformat() if nxt else None,
        "next_action": step.action.value if step else None,
        "next_tier": step.tier.value if step else None,
        "fixed": planner.fixed_deadline(t) is not None,  # moved by an approved 延期 or set by the city platform
    }
