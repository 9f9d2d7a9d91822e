"""The explicit handler registry: route key (see bot.interpret.route) → handler."""

from __future__ import annotations

from collections.abc import Mapping

from bot.handlers import governance, handling, points, report, resident, worker
from bot.handlers.context import Context, Handler
from bot.interpret import Route


async def ignore(ctx: Context) -> None:
    """Chitchat and noise: no reply, no ticket (the message is still stored)."""
    return None


def build_registry() -> Mapping[Route, Handler]:
    return {
        Route.REPORT: report.report,
        Route.WORKER_ACCEPT: worker.accept,
        Route.WORKER_PROGRESS: worker.progress,
        Route.WORKER_RESOLVE: worker.resolve,
        Route.ESCALATE_REQUEST: worker.whistle,
        Route.WORKER_NOTE: worker.note,
        Route.MY_TICKETS: worker.my_tickets,
        Route.MY_POINTS: points.my_points,
        Route.CHECKIN: worker.check_in,
        Route.REPORT_IN: governance.report_in,
        Route.SUSPEND: governance.suspend,
        Route.APPROVE_SUSPENSION: governance.approve,
        Route.RESUME: governance.resume,
        Route.DISPATCH: handling.dispatch,
        Route.SIGN: handling.sign,
        Route.RETURN: handling.return_case,
        Route.REQUEST_EXTENSION: handling.request_extension,
        Route.APPROVE_EXTENSION: handling.approve_extension,
        Route.REFUSE_EXTENSION: handling.refuse_extension,
        Route.VERIFY_PASS: handling.verify_pass,
        Route.VERIFY_FAIL: handling.verify_fail,
        Route.STAFF_PHOTOS: worker.photos,
        Route.RATE: resident.rate,
        Route.CONFIRM_RESOLVED: resident.confirm,
        Route.REJECT_RESOLUTION: resident.reject,
        Route.CANCEL_REPORT: resident.cancel,
        Route.ASK_STATUS: resident.status,
        Route.CONSULT: resident.consult,
        Route.LOCATE: resident.locate_draft,
        Route.ATTACH: resident.attach,
        Route.ASK_REPORT: resident.ask_report,
        Route.ANSWER_YES: resident.answer_yes,
        Route.IGNORE: ignore,
    }
