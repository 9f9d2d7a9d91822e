"""吹哨报到 and 挂账 in the pure core, and the planner around them."""

from dataclasses import replace
from datetime import timedelta

import pytest

from escalation import planner
from escalation.planner import Action
from tests.unit.factories import T0, directory, new_ticket
from tickets import transitions
from tickets.model import Phase, Refused, TicketState, Tier


def test_reporting_in_stops_the_climb_and_starts_that_tiers_own_deadline() -> None:
    whistled = transitions.whistle(new_ticket(), "w1", "请社区协调", directory(), T0).ticket
    assert whistled.tier is Tier.COMMUNITY
    taken = transitions.report_in(whistled, "oc", Tier.COMMUNITY, T0 + timedelta(seconds=1), history=())
    t = taken.ticket
    assert (t.state, t.tier, t.clock.phase, t.clock.base_tier) == (
        TicketState.ACCEPTED, Tier.COMMUNITY, Phase.RESOLVE, Tier.COMMUNITY)  # fmt: skip
    steps = planner.schedule(t)
    assert {s.tier for s in steps if s.action is Action.ESCALATE} == {Tier.TOWNSHIP, Tier.DISTRICT, Tier.DEPARTMENT}
    assert steps[0].at == T0 + timedelta(seconds=1 + t.policy.resolve_s * 0.5)  # the community's own deadline
    with pytest.raises(Refused, match="already_reported_in"):
        transitions.report_in(t, "oc", Tier.COMMUNITY, T0, history=taken.events)
    township = transitions.report_in(t, "ot", Tier.TOWNSHIP, T0, history=taken.events).ticket
    assert township.tier is Tier.TOWNSHIP
    with pytest.raises(Refused, match="below_current_tier"):
        transitions.report_in(township, "oc", Tier.COMMUNITY, T0, history=())


def test_a_whistle_on_an_accepted_case_waits_for_the_tier_to_report_in_and_records_it() -> None:
    """Issue 22: after a whistle on a case in hand, `#7 报到` said 已由社区报到处理中 and recorded nothing."""
    accepted = transitions.accept(new_ticket(), "w1", T0)
    whistled = transitions.whistle(accepted.ticket, "w1", "请社区协调", directory(), T0)
    history = [*accepted.events, *whistled.events]
    taken = transitions.report_in(whistled.ticket, "oc", Tier.COMMUNITY, T0 + timedelta(seconds=1), history=history)
    assert [e.kind for e in taken.events] == ["reported_in"] and taken.events[0].actor == "oc"
    with pytest.raises(Refused, match="already_reported_in") as again:
        transitions.report_in(taken.ticket, "oc2", Tier.COMMUNITY, T0, history=[*history, *taken.events])
    assert again.value.params["actor"] == "oc"  # the refusal says who took it
    climbed = transitions.whistle(taken.ticket, "oc", "请街道协调", directory(), T0)
    history = [*history, *taken.events, *climbed.events]
    assert transitions.reported_in_by(history, Tier.COMMUNITY) is None  # reporting in starts afresh after a climb


def test_progress_on_a_case_nobody_took_records_that_it_was_taken() -> None:
    progressed = transitions.progress(new_ticket(), "w1", "已联系师傅", T0)
    assert progressed.ticket.state is TicketState.ACCEPTED
    assert [(e.kind, e.actor) for e in progressed.events] == [("accepted", "w1"), ("progress", "w1")]


def test_suspension_needs_a_reason_and_an_officer_and_stops_every_clock() -> None:
    ticket = new_ticket()
    with pytest.raises(Refused, match="suspend_needs_reason"):
        transitions.request_suspension(ticket, "w1", "", directory(), T0)
    asked = transitions.request_suspension(ticket, "w1", "等厂家配件", directory(), T0)
    assert asked.ticket.state is TicketState.REPORTED and asked.ticket.suspension == "等厂家配件"
    assert ("officer_suspension_request", "oc") in [(n.template, n.person_id) for n in asked.notices]
    suspended = transitions.suspend(asked.ticket, "oc", "", T0).ticket
    assert (suspended.state, suspended.suspension, suspended.clock.phase) == (
        TicketState.SUSPENDED, "等厂家配件", Phase.NONE)  # fmt: skip
    assert planner.next_due(suspended) is None
    assert planner.fire(suspended, None, directory(), T0 + timedelta(days=30)) is None
    resumed = transitions.resume(suspended, "w1", T0 + timedelta(hours=1)).ticket
    assert (resumed.state, resumed.suspension, resumed.clock.phase) == (TicketState.ACCEPTED, "", Phase.RESOLVE)
    with pytest.raises(Refused, match="not_suspended"):
        transitions.resume(resumed, "w1", T0)


def test_department_staff_act_only_on_cases_that_reached_their_department() -> None:
    d = directory()
    assert d.tier_of("dp") is Tier.DEPARTMENT and d.tier_of("oc") is Tier.COMMUNITY and d.tier_of("w1") is None
    assert not d.may_act("dp", "g1", "report_water", Tier.TOWNSHIP)
    assert d.may_act("dp", "g1", "report_water", Tier.DEPARTMENT)
    assert d.may_act("oc", "g1", "report_water", Tier.GRID) and not d.may_act("w2", "g1", "report_water", Tier.GRID)
    at_department = replace(new_ticket(), tier=Tier.DEPARTMENT)
    assert (
        transitions.report_in(at_department, "dp", Tier.DEPARTMENT, T0, history=()).ticket.clock.base_tier
        is Tier.DEPARTMENT
    )
