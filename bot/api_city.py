"""The city platform's routes of API v1 (see README "HTTP API"): cases in, pushes out (their dead letters)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from bot.city_intake import CaseRefused, CityCase
from bot.errors import ApiError
from bot.inputs import RowId
from bot.messages import storable
from bot.services import Services
from escalation.calendar import LOCAL
from tickets.ports import CityPush, Delivery

ASCII_ID = r"^[!-~]+$"  # printable ASCII without spaces: ids as the platform keys them
MAX_CASE_TEXT = 4000


class CaseIn(BaseModel):
    external_id: str = Field(min_length=1, max_length=128, pattern=ASCII_ID)
    type: str = Field(min_length=1, max_length=128, pattern=ASCII_ID)
    text: str = Field(min_length=1, max_length=MAX_CASE_TEXT)
    location: str = Field(default="", max_length=500)
    grid: str = Field(min_length=1, max_length=128, pattern=ASCII_ID)
    deadline: str | None = Field(default=None, max_length=64, description="ISO 8601; without an offset: Beijing time")

    @field_validator("text")
    @classmethod
    def _words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value

    def to_case(self) -> CityCase:
        return CityCase(self.external_id, self.type, storable(self.text).strip(), storable(self.location).strip(),
                        self.grid, parse_deadline(self.deadline))  # fmt: skip


def parse_deadline(value: str | None) -> datetime | None:
    """An ISO 8601 date and time; one without an offset is Beijing time (the platform's)."""
    if value is None or not value.strip():
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ApiError(422, "办结时限格式错误，应为 ISO 8601 / deadline is not an ISO 8601 date and time") from exc
    return (at if at.tzinfo else at.replace(tzinfo=LOCAL)).astimezone(UTC)


def build_city_router(services: Services, guard: Callable[..., Awaitable[None]]) -> APIRouter:
    router = APIRouter(dependencies=[Depends(guard)])

    @router.post("/cases", status_code=201, response_class=JSONResponse)
    async def case(body: CaseIn) -> JSONResponse:
        """A case from the city's hotline platform (12345): 201 when opened, 200 with the same
        `ticket_id` when this `external_id` was taken before."""
        if services.city is None:
            raise ApiError(503)
        try:
            ticket_id, opened = await services.city.receive(body.to_case())
        except CaseRefused as exc:
            raise ApiError(422, str(exc)) from exc
        return JSONResponse({"ticket_id": ticket_id, "created": opened}, status_code=201 if opened else 200)

    @router.get("/city/pushes")
    async def pushes(
        status: Delivery = Delivery.DEAD, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> dict[str, Any]:
        """Pushes to the city platform by state: `dead` (gave up after the last attempt) by default."""
        if status not in (Delivery.PENDING, Delivery.SENT, Delivery.DEAD):
            raise ApiError(422, "status 只能是 pending / sent / dead")
        async with services.uow() as uow:
            rows = await uow.city.by_status(status, limit)
        return {"pushes": [push_json(p) for p in rows]}

    @router.post("/city/pushes/{push_id}/retry")
    async def retry(push_id: RowId) -> dict[str, Any]:
        async with services.uow() as uow:
            if not await uow.city.retry(push_id):
                raise ApiError(404, "没有这条失败的推送 / no dead push with this id")
        return {"id": push_id, "status": Delivery.PENDING.value}

    return router


def push_json(p: CityPush) -> dict[str, Any]:
    return {"id": p.id, "ticket_id": p.ticket_id, "event_id": p.event_id, "event": p.body.get("event"),
            "status": p.status.value, "attempts": p.attempts, "error": p.error,
            "created_at": p.created_at.isoformat()}  # fmt: skip
