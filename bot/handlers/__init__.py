"""The explicit handler registry: route key (see bot.interpret.route) → handler."""

from __future__ import annotations

from collections.abc import Mapping

from bot.handlers import governance, report, resident, worker
from bot.handlers.context import Context, Handler


async def ignore(ctx: Context) -> None:
    """Chitchat and noise: no reply, no ticket (the message is still stored)."""
    return None


def build_registry() -> Mapping[str, Handler]:
    return {
        "report": report.report,
        "worker_accept": worker.accept,
        "worker_progress": worker.progress,
        "worker_resolve": worker.resolve,
        "escalate_request": worker.whistle,
        "worker_note": worker.note,
        "my_tickets": worker.my_tickets,
        "checkin": worker.check_in,
        "report_in": governance.report_in,
        "suspend": governance.suspend,
        "approve_suspension": governance.approve,
        "resume": governance.resume,
        "rate": resident.rate,
        "confirm_resolved": resident.confirm,
        "reject_resolution": resident.reject,
        "cancel_report": resident.cancel,
        "ask_status": resident.status,
        "consult": resident.consult,
        "locate": resident.locate_draft,
        "attach": resident.attach,
        "ignore": ignore,
    }
