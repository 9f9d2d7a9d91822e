"""Rows to the core's types and back, the policy snapshot's JSON, and the tickets' query builders."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import RowMapping, Select, bindparam, select

from storage import tables as t
from tickets.model import (
    LIVE_STATES,
    CaseKind,
    Clock,
    CloseReason,
    Dispatch,
    Extension,
    LadderStep,
    Phase,
    SlaPolicy,
    Ticket,
    TicketState,
    Tier,
    Verify,
)
from tickets.ports import Bulletin, Delivery, Direction, StoredMessage, TicketQuery


@cache
def _find_query(filters: tuple[str, ...], grids: bool, states: bool, limit: int) -> Select[Any]:
    """`SqlTicketStore.find`'s statement for one shape of filters, built once; values are bound at execution."""
    c = t.tickets.c
    query = select(t.tickets).order_by(c.id.desc()).limit(limit)
    if grids:
        query = query.where(c.grid.in_(bindparam("b_grids", expanding=True)))
    for name in filters:
        query = query.where(c[name] == bindparam(f"b_{name}"))
    if states:
        query = query.where(c.state.in_(bindparam("b_states", expanding=True)))
    return query


def _ticket_filter(q: TicketQuery) -> list[Any]:
    c = t.tickets.c
    where: list[Any] = []
    if q.grids is not None:
        where.append(c.grid.in_(sorted(q.grids)))
    for column, values in ((c.state, [s.value for s in q.states]), (c.type, list(q.types)),
                           (c.tier, [x.value for x in q.tiers]), (c.id, list(q.ids))):  # fmt: skip
        if values:
            where.append(column.in_(values))
    if q.created_from is not None:
        where.append(c.created_at >= q.created_from)
    if q.created_to is not None:
        where.append(c.created_at < q.created_to)
    if q.overdue_at is not None:
        where.append(c.due_at <= q.overdue_at)
    if q.before_id is not None:
        where.append(c.id < q.before_id)
    if q.text.strip():
        like = "%" + q.text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            c.text.like(like, escape="\\") | c.location.like(like, escape="\\") | c.reporter.like(like, escape="\\")
        )
    return where


def policy_to_json(policy: SlaPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "accept_s": policy.accept_s,
        "resolve_s": policy.resolve_s,
        "nag_at": list(policy.nag_at),
        "ladder": [{"tier": s.tier.value, "ack_s": s.ack_s, "repeat": s.repeat} for s in policy.ladder],
        "location_s": policy.location_s,
        "feedback_s": policy.feedback_s,
        "quiet": list(policy.quiet) if policy.quiet else None,
        "working": list(policy.working) if policy.working else None,
        "sign_s": policy.sign_s,
        "sign_urgent_s": policy.sign_urgent_s,
        "proof": policy.proof,
        "verify": policy.verify.value,
        "verify_s": policy.verify_s,
        "rework_s": policy.rework_s,
        "cards": policy.cards,
        "red_card_days": policy.red_card_days,
        "resolve_clock": policy.resolve_clock,
        "subtype_deadlines": policy.subtype_deadlines,
    }


def policy_from_json(data: dict[str, Any]) -> SlaPolicy:
    return SlaPolicy(
        name=data["name"],
        accept_s=int(data["accept_s"]),
        resolve_s=int(data["resolve_s"]),
        nag_at=tuple(float(f) for f in data["nag_at"]),
        ladder=tuple(LadderStep(Tier(s["tier"]), int(s["ack_s"]), int(s.get("repeat", 0))) for s in data["ladder"]),
        # snapshots taken before these existed keep the defaults of their time
        location_s=int(data.get("location_s", 0)),
        feedback_s=int(data.get("feedback_s", SlaPolicy.feedback_s)),
        quiet=_pair(data.get("quiet")),
        working=_pair(data.get("working")),
        sign_s=int(data.get("sign_s", SlaPolicy.sign_s)),
        sign_urgent_s=int(data.get("sign_urgent_s", SlaPolicy.sign_urgent_s)),
        proof=bool(data.get("proof", False)),
        verify=Verify(data.get("verify", Verify.REPORTER.value)),
        verify_s=int(data.get("verify_s", SlaPolicy.verify_s)),
        rework_s=int(data.get("rework_s", 0)),
        cards=bool(data.get("cards", False)),
        red_card_days=int(data.get("red_card_days", SlaPolicy.red_card_days)),
        resolve_clock=str(data.get("resolve_clock", "")),
        subtype_deadlines=bool(data.get("subtype_deadlines", True)),
    )


def _pair(value: Any) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if value else None


def _ticket_row(ticket: Ticket, next_due_at: datetime | None, due_at: datetime | None = None) -> dict[str, Any]:
    return {
        "type": ticket.type,
        "state": ticket.state.value,
        "tier": ticket.tier.value,
        "grid": ticket.grid,
        "chat_id": ticket.chat_id,
        "reporter": ticket.reporter,
        "assignee": ticket.assignee,
        "location": ticket.location,
        "text": ticket.text,
        "created_at": ticket.created_at,
        "rating": ticket.rating,
        "urgent": ticket.urgent,
        "policy": policy_to_json(ticket.policy),
        "clock_phase": ticket.clock.phase.value,
        "clock_started_at": ticket.clock.started_at,
        "clock_base_tier": ticket.clock.base_tier.value,
        "clock_step": ticket.clock.step,
        "clock_token": ticket.clock.token,
        "followers": list(ticket.followers),
        "ratings": dict(ticket.ratings),
        "close_reason": ticket.close_reason.value if ticket.close_reason else None,
        "reopens": ticket.reopens,
        "suspension": ticket.suspension,
        "department": ticket.department,
        "handling": handling_to_json(ticket),
        "returns": ticket.returns,
        "deadline": ticket.deadline,
        "external_id": ticket.external_id,
        "next_due_at": next_due_at if TicketState(ticket.state) in LIVE_STATES else None,
        "due_at": due_at,
    }


def _ticket(row: Mapping[str, Any] | RowMapping) -> Ticket:
    return Ticket(
        id=int(row["id"]),
        type=row["type"],
        state=TicketState(row["state"]),
        tier=Tier(row["tier"]),
        grid=row["grid"],
        chat_id=row["chat_id"],
        reporter=row["reporter"],
        assignee=row["assignee"],
        location=row["location"],
        text=row["text"],
        created_at=row["created_at"],
        policy=policy_from_json(row["policy"]),
        clock=Clock(
            phase=Phase(row["clock_phase"]),
            started_at=row["clock_started_at"],
            base_tier=Tier(row["clock_base_tier"]),
            step=int(row["clock_step"]),
            token=int(row["clock_token"]),
            until=_when(str((row["handling"] or {})["clock_until"]))
            if (row["handling"] or {}).get("clock_until")
            else None,
        ),
        rating=row["rating"],
        urgent=bool(row["urgent"]),
        followers=tuple(row["followers"] or ()),
        ratings={str(k): int(v) for k, v in (row["ratings"] or {}).items()},
        close_reason=CloseReason(row["close_reason"]) if row["close_reason"] else None,
        reopens=int(row["reopens"] or 0),
        suspension=row["suspension"] or "",
        dispatch=dispatch_from_json((row["handling"] or {}).get("dispatch")),
        extension=extension_from_json((row["handling"] or {}).get("extension")),
        reworks=int((row["handling"] or {}).get("reworks", 0)),
        verify_pending=bool((row["handling"] or {}).get("verify_pending", False)),
        subtype=_kind((row["handling"] or {}).get("subtype")),
        returns=int(row["returns"] or 0),
        deadline=_aware(row["deadline"]),
        external_id=row["external_id"],
    )


def handling_to_json(ticket: Ticket) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ticket.reworks:
        out["reworks"] = ticket.reworks
    if ticket.verify_pending:
        out["verify_pending"] = True
    if ticket.clock.until is not None:
        out["clock_until"] = ticket.clock.until.isoformat()
    if ticket.subtype is not None:
        k = ticket.subtype
        out["subtype"] = {"id": k.id, "name": k.name, "code": k.code, "conditions": k.conditions}
    if ticket.dispatch is not None:
        out["dispatch"] = dispatch_to_json(ticket.dispatch)
    if ticket.extension is not None:
        e = ticket.extension
        out["extension"] = {"until": e.until.isoformat(), "reason": e.reason, "by": e.by, "at": e.at.isoformat()}
    return out


def dispatch_to_json(dispatch: Dispatch) -> dict[str, Any]:
    return {
        "department": dispatch.department,
        "by": dispatch.by,
        "tier": dispatch.tier.value,
        "at": dispatch.at.isoformat(),
        "signed_by": dispatch.signed_by,
        "signed_at": dispatch.signed_at.isoformat() if dispatch.signed_at else None,
        "final": dispatch.final,
    }


def dispatch_from_json(data: Mapping[str, Any] | None) -> Dispatch | None:
    if not data:
        return None
    return Dispatch(
        department=str(data["department"]),
        by=str(data["by"]),
        tier=Tier(data["tier"]),
        at=_when(data["at"]),
        signed_by=data.get("signed_by"),
        signed_at=_when(data["signed_at"]) if data.get("signed_at") else None,
        final=bool(data.get("final")),
    )


def extension_from_json(data: Mapping[str, Any] | None) -> Extension | None:
    if not data:
        return None
    return Extension(_when(data["until"]), str(data["reason"]), str(data["by"]), _when(data["at"]))


def _kind(data: Mapping[str, Any] | None) -> CaseKind | None:
    if not data:
        return None
    return CaseKind(str(data["id"]), str(data["name"]), str(data.get("code", "")), str(data.get("conditions", "")))


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        id=int(row["id"]),
        direction=Direction(row["direction"]),
        sender=row["sender"],
        text=row["text"],
        created_at=row["created_at"],
        status=Delivery(row["status"]),
        chat_id=row["chat_id"],
        person_id=row["person_id"],
        ticket_id=row["ticket_id"],
        reply_to=row["reply_to"],
        client_id=row["client_id"],
        cause_id=row["cause_id"],
        channel=row["channel"],
        attempts=int(row["attempts"] or 0),
        attachments=tuple(row.get("attachments") or ()),
        template=row.get("template"),
        intent=row.get("intent"),
        private=bool(row.get("private")),
    )


def _bulletin(row: Any) -> Bulletin:
    return Bulletin(
        id=int(row["id"]), kind=row["kind"], period=row["period"], scope=row["scope"],
        created_at=row["created_at"], body=row["body"], text=row["text"],
    )  # fmt: skip
