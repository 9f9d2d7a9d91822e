from datetime import timedelta

from escalation import planner
from escalation.planner import Action
from tests.unit.factories import T0, directory, new_ticket
from tickets import transitions
from tickets.model import CloseReason, Phase, TicketState, Tier


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_fast_policy_schedule_nag_then_each_tier() -> None:
    steps = planner.schedule(new_ticket())
    assert [(st.at - T0, st.action, st.tier) for st in steps] == [
        (s(2), Action.NAG, Tier.GRID),
        (s(4), Action.ESCALATE, Tier.COMMUNITY),
        (s(8), Action.ESCALATE, Tier.TOWNSHIP),
        (s(12), Action.ESCALATE, Tier.DISTRICT),
        (s(16), Action.ESCALATE, Tier.DEPARTMENT),
    ]


def test_nothing_fires_before_the_first_step() -> None:
    assert planner.fire(new_ticket(), None, directory(), T0 + s(1.9)) is None


def test_nag_goes_to_the_assignee_only() -> None:
    outcome = planner.fire(new_ticket(), None, directory(), T0 + s(2))
    assert outcome is not None
    assert [(n.template, n.person_id) for n in outcome.notices] == [("worker_nag", "w1")]
    assert outcome.ticket.clock.step == 1
    assert planner.next_due(outcome.ticket) == T0 + s(4)


def test_escalation_pings_the_officers_of_that_tier_and_moves_the_ticket() -> None:
    t = new_ticket()
    t = planner.fire(t, None, directory(), T0 + s(2)).ticket  # type: ignore[union-attr]
    outcome = planner.fire(t, None, directory(), T0 + s(4))
    assert outcome is not None
    assert outcome.ticket.tier is Tier.COMMUNITY
    assert {(n.template, n.person_id) for n in outcome.notices} == {
        ("officer_escalated", "oc"),
        ("worker_escalated", "w1"),
    }
    nxt = planner.fire(outcome.ticket, None, directory(), T0 + s(8))
    assert nxt is not None and nxt.ticket.tier is Tier.TOWNSHIP
    assert [n.person_id for n in nxt.notices if n.template == "officer_escalated"] == ["ot"]


def test_a_stale_token_fires_nothing() -> None:
    t = new_ticket()
    assert planner.fire(t, t.clock.token - 1, directory(), T0 + s(60)) is None
    assert planner.fire(t, t.clock.token, directory(), T0 + s(2)) is not None


def test_after_downtime_every_tier_hears_but_stale_nags_are_skipped() -> None:
    outcome = planner.fire(new_ticket(), None, directory(), T0 + s(9))
    assert outcome is not None
    assert [e.kind for e in outcome.events] == ["escalated", "escalated"]
    assert outcome.ticket.tier is Tier.TOWNSHIP
    assert outcome.ticket.clock.step == 3


def test_the_department_tier_pings_department_staff() -> None:
    outcome = planner.fire(new_ticket(), None, directory(), T0 + s(16))
    assert outcome is not None
    pinged = [n.person_id for n in outcome.notices if n.template == "officer_escalated"]
    assert pinged == ["oc", "ot", "od", "dp"]
    assert planner.next_due(outcome.ticket) is None  # the ladder is exhausted


def test_accepting_restarts_the_clock_for_resolution_from_the_current_tier() -> None:
    t = planner.fire(new_ticket(), None, directory(), T0 + s(4)).ticket  # type: ignore[union-attr]
    accepted = transitions.accept(t, "w1", T0 + s(5)).ticket
    steps = planner.schedule(accepted)
    assert [(st.at - T0, st.action, st.tier) for st in steps] == [
        (s(9), Action.NAG, Tier.COMMUNITY),
        (s(13), Action.ESCALATE, Tier.TOWNSHIP),
        (s(17), Action.ESCALATE, Tier.DISTRICT),
        (s(21), Action.ESCALATE, Tier.DEPARTMENT),
    ]


def test_a_resolved_ticket_waits_for_feedback_then_closes_as_default_satisfied() -> None:
    t = transitions.resolve(new_ticket(), "w1", "", T0).ticket
    assert planner.next_due(t) == T0 + s(t.policy.feedback_s)
    assert planner.fire(t, None, directory(), T0 + s(t.policy.feedback_s - 1)) is None
    closed = planner.fire(t, None, directory(), T0 + s(t.policy.feedback_s))
    assert closed is not None
    assert (closed.ticket.state, closed.ticket.close_reason) == (TicketState.CLOSED, CloseReason.DEFAULT_SATISFIED)
    assert closed.ticket.rating is None
    assert [n.template for n in closed.notices] == ["ticket_auto_closed"]


def test_closed_tickets_have_no_deadline() -> None:
    t = transitions.confirm(transitions.resolve(new_ticket(), "w1", "", T0).ticket, "张阿姨", T0 + s(1)).ticket
    assert planner.next_due(t) is None
    assert planner.fire(t, None, directory(), T0 + s(10**6)) is None


def test_a_draft_opens_unlocated_when_the_reporter_never_answers() -> None:
    t = new_ticket(draft=True)
    assert (t.state, t.clock.phase) == (TicketState.DRAFT, Phase.LOCATION)
    assert planner.next_due(t) == T0 + s(t.policy.location_s)
    opened = planner.fire(t, t.clock.token, directory(), T0 + s(t.policy.location_s))
    assert opened is not None
    assert (opened.ticket.state, opened.ticket.clock.phase) == (TicketState.REPORTED, Phase.ACCEPT)
    assert opened.ticket.clock.token == t.clock.token + 1
    assert [n.template for n in opened.notices] == ["ticket_opened_unlocated", "worker_new_ticket"]
    assert planner.next_due(opened.ticket) == T0 + s(t.policy.location_s + t.policy.accept_s * 0.5)


def test_a_reopened_case_gets_half_the_resolve_time() -> None:
    t = transitions.resolve(transitions.accept(new_ticket(), "w1", T0).ticket, "w1", "", T0).ticket
    reopened = transitions.reject(t, "张阿姨", "还没修好", T0 + s(1)).ticket
    assert reopened.reopens == 1
    assert reopened.policy.duration(Phase.RESOLVE, reopened.reopens) == reopened.policy.resolve_s // 2
