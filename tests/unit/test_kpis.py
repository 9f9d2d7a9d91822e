"""The assessment figures (escalation/kpis.py) on a hand-computed history (issue 20)."""

from dataclasses import replace
from datetime import timedelta

from escalation.kpis import kpis
from tests.unit.factories import T0, new_ticket
from tickets.model import CloseReason, Dispatch, EventKind, Ticket, TicketEvent, TicketState, Tier


def _t(i: int, state: TicketState, **fields: object) -> Ticket:
    return replace(new_ticket(), id=i, state=state, **fields)  # type: ignore[arg-type]


def _e(kind: EventKind, actor: str = "w1", **detail: object) -> TicketEvent:
    return TicketEvent(kind, actor, T0 + timedelta(minutes=1), detail)


K = EventKind
CASES = {
    # 1: taken, resolved, rated 5: on time, responded, solved, satisfied
    1: (_t(1, TicketState.CLOSED, close_reason=CloseReason.RATED, ratings={"张阿姨": 5}, rating=5),
        [_e(K.REPORTED, "张阿姨"), _e(K.ACCEPTED), _e(K.RESOLVED), _e(K.RATED, "张阿姨"), _e(K.CLOSED)]),
    # 2: returned by 城管, re-dispatched to 水务, signed, a failed check, a yellow card, closed unrated
    2: (_t(2, TicketState.CLOSED, close_reason=CloseReason.NO_RATING, tier=Tier.DEPARTMENT,
           dispatch=Dispatch("sw", "ot", Tier.TOWNSHIP, T0)),
        [_e(K.REPORTED, "李四"), _e(K.ACCEPTED), _e(K.DISPATCHED, "ot", department="cg"),
         _e(K.RETURNED, "dp", department="cg"), _e(K.DISPATCHED, "ot", department="sw"), _e(K.SIGNED, "dw"),
         _e(K.RESOLVED, "dw"), _e(K.VERIFICATION_FAILED, "oc"), _e(K.YELLOW_CARD, "system"),
         _e(K.RESOLVED, "dw"), _e(K.VERIFIED, "oc"), _e(K.CLOSED, "system")]),
    # 3: cancelled: counts nowhere
    3: (_t(3, TicketState.CANCELLED), [_e(K.REPORTED, "王五"), _e(K.CANCELLED, "王五")]),
    # 4: taken, then on hold (挂账): due but deferred
    4: (_t(4, TicketState.SUSPENDED), [_e(K.REPORTED, "赵六"), _e(K.ACCEPTED), _e(K.SUSPENDED, "oc")]),
    # 5: confirmed, sent back, resolved again, closed as 默认满意: a verdict, not solved
    5: (_t(5, TicketState.CLOSED, close_reason=CloseReason.DEFAULT_SATISFIED),
        [_e(K.REPORTED, "孙七"), _e(K.ACCEPTED), _e(K.RESOLVED), _e(K.CONFIRMED, "孙七"), _e(K.CLOSED),
         _e(K.REOPENED, "孙七"), _e(K.RESOLVED), _e(K.CLOSED, "system")]),
    # 6: nobody took it before the accept deadline: the ladder climbed; closed late
    6: (_t(6, TicketState.CLOSED, close_reason=CloseReason.DEFAULT_SATISFIED, grid="g2", tier=Tier.COMMUNITY),
        [_e(K.REPORTED, "周八"), _e(K.ESCALATED, "system", tier="community", phase="accept"), _e(K.ACCEPTED),
         _e(K.RESOLVED), _e(K.CLOSED, "system")]),
}  # fmt: skip


def _figures() -> dict[str, object]:
    tickets = [t for t, _ in CASES.values()]
    return kpis(tickets, {t.id: events for t, events in CASES.values()}).to_json()


def test_every_rate_matches_the_hand_count() -> None:
    total = _figures()["total"]
    assert total["counts"] == {  # type: ignore[index]
        "due": 5, "deferred": 1, "closed": 4, "closed_on_time": 2, "resolutions": 6, "failed_verifications": 1,
        "returns": 0, "responded": 4, "verdicts": 2, "solved": 1, "ratings": 1, "satisfied": 1,
        "yellow_cards": 1, "red_cards": 0,
    }  # fmt: skip
    assert {k: total[k] for k in ("on_time_rate", "closure_rate", "rework_rate", "response_rate",  # type: ignore[index]
                                  "resolution_rate", "satisfaction_rate")} == {
        "on_time_rate": 0.5,  # 2 ÷ (5 − 1)
        "closure_rate": 0.8,  # 4 ÷ 5
        "rework_rate": 0.1667,  # 1 ÷ 6
        "response_rate": 0.8,  # 4 ÷ 5
        "resolution_rate": 0.5,  # 1 ÷ 2
        "satisfaction_rate": 1.0,  # 1 ÷ 1
    }  # fmt: skip


def test_departments_tiers_and_grids_and_the_ranking() -> None:
    body = _figures()
    departments = {d["id"]: d for d in body["departments"]}  # type: ignore[attr-defined]
    assert departments["sw"]["counts"]["due"] == 1 and departments["sw"]["rework_rate"] == 0.5
    assert departments["cg"]["returns"] == 1 and departments["cg"]["counts"]["due"] == 0  # 推诿 counts for 城管
    assert [(r["rank"], r["id"]) for r in body["ranking"]] == [(1, "sw"), (2, "cg")]  # type: ignore[attr-defined]
    grids = {g["id"]: g["counts"]["due"] for g in body["grids"]}  # type: ignore[attr-defined]
    assert grids == {"g1": 4, "g2": 1}
    tiers = {g["id"]: g["counts"]["due"] for g in body["tiers"]}  # type: ignore[attr-defined]
    assert tiers == {"grid": 3, "department": 1, "community": 1}


def test_a_deferred_case_leaves_both_sides_of_the_on_time_rate() -> None:
    """Review: an extended case left the denominator but stayed in the numerator (a rate of 2.0)."""
    plain = (_t(1, TicketState.CLOSED, close_reason=CloseReason.RATED, ratings={"a": 5}),
             [_e(K.ACCEPTED), _e(K.RESOLVED), _e(K.CLOSED)])  # fmt: skip
    extended = (_t(2, TicketState.CLOSED, close_reason=CloseReason.RATED, ratings={"b": 5}),
                [_e(K.ACCEPTED), _e(K.EXTENSION_APPROVED, "ot"), _e(K.RESOLVED), _e(K.CLOSED)])  # fmt: skip
    cases = [plain, extended]
    total = kpis([t for t, _ in cases], {t.id: e for t, e in cases}).to_json()["total"]
    assert total["on_time_rate"] == 1.0 and total["counts"]["closed_on_time"] == 1  # type: ignore[index]
