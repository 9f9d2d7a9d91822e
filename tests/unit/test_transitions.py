from dataclasses import replace
from datetime import timedelta

import pytest

from tests.unit.factories import T0, directory, new_ticket
from tickets import transitions
from tickets.directory import Department, Directory
from tickets.model import Phase, Refused, TicketState, Tier


def test_open_ticket_acknowledges_in_chat_and_pings_the_worker() -> None:
    outcome = transitions.open_ticket(
        ticket_id=1, ticket_type="report_water", grid="g1", chat_id="chat-1", reporter="r", assignee="w1",
        location="", text="漏水", policy=new_ticket().policy, now=T0,
    )  # fmt: skip
    assert outcome.ticket.state is TicketState.REPORTED
    assert outcome.ticket.clock.phase is Phase.ACCEPT
    assert [(n.template, n.chat_id, n.person_id) for n in outcome.notices] == [
        ("ticket_opened", "chat-1", None),
        ("worker_new_ticket", None, "w1"),
    ]
    assert [e.kind for e in outcome.events] == ["reported"]


def test_full_loop_accept_resolve_rate_closes_with_rating() -> None:
    t = new_ticket()
    t = transitions.accept(t, "w1", T0 + timedelta(seconds=1)).ticket
    assert (t.state, t.clock.phase) == (TicketState.ACCEPTED, Phase.RESOLVE)
    t = transitions.resolve(t, "w1", "已清运", T0 + timedelta(seconds=2)).ticket
    assert (t.state, t.clock.phase) == (TicketState.RESOLVED, Phase.FEEDBACK)
    outcome = transitions.rate(t, "张阿姨", 4, T0 + timedelta(seconds=3))
    assert (outcome.ticket.state, outcome.ticket.rating) == (TicketState.CLOSED, 4)
    assert [e.kind for e in outcome.events] == ["rated", "closed"]


def test_every_transition_moves_the_fencing_token() -> None:
    t = new_ticket()
    accepted = transitions.accept(t, "w1", T0).ticket
    resolved = transitions.resolve(accepted, "w1", "", T0).ticket
    assert t.clock.token < accepted.clock.token < resolved.clock.token


def test_confirm_closes_and_a_later_rating_is_still_taken() -> None:
    t = transitions.resolve(new_ticket(), "w1", "", T0).ticket
    closed = transitions.confirm(t, "张阿姨", T0).ticket
    assert closed.state is TicketState.CLOSED and closed.rating is None
    rated = transitions.rate(closed, "张阿姨", 5, T0)
    assert rated.ticket.rating == 5
    assert [e.kind for e in rated.events] == ["rated"]  # already closed: no second "closed"
    with pytest.raises(Refused):
        transitions.rate(rated.ticket, "张阿姨", 3, T0)  # one rating per case


def test_reject_reopens_with_a_fresh_resolve_clock_and_tells_the_worker() -> None:
    t = transitions.resolve(transitions.accept(new_ticket(), "w1", T0).ticket, "w1", "", T0).ticket
    later = T0 + timedelta(minutes=5)
    outcome = transitions.reject(t, "张阿姨", "还没修好", later)
    assert outcome.ticket.state is TicketState.ACCEPTED
    assert (outcome.ticket.clock.phase, outcome.ticket.clock.started_at) == (Phase.RESOLVE, later)
    assert {n.template for n in outcome.notices} == {"ticket_reopened", "worker_reopened"}


@pytest.mark.parametrize("action", ["confirm", "rate", "reject", "cancel"])
def test_only_the_reporter_may_confirm_rate_reject_or_cancel(action: str) -> None:
    t = transitions.resolve(new_ticket(), "w1", "", T0).ticket if action != "cancel" else new_ticket()
    calls = {
        "confirm": lambda: transitions.confirm(t, "路人", T0),
        "rate": lambda: transitions.rate(t, "路人", 5, T0),
        "reject": lambda: transitions.reject(t, "路人", "", T0),
        "cancel": lambda: transitions.cancel(t, "路人", T0),
    }
    with pytest.raises(Refused) as refused:
        calls[action]()
    assert refused.value.reason == "only_reporter"


def test_refusals_for_wrong_states() -> None:
    accepted = transitions.accept(new_ticket(), "w1", T0).ticket
    with pytest.raises(Refused, match="already_accepted"):
        transitions.accept(accepted, "w2", T0)
    with pytest.raises(Refused, match="not_resolved"):
        transitions.rate(accepted, "张阿姨", 5, T0)
    with pytest.raises(Refused, match="bad_rating"):
        transitions.rate(transitions.resolve(accepted, "w1", "", T0).ticket, "张阿姨", 9, T0)


def test_whistle_climbs_one_tier_and_pings_its_officers() -> None:
    outcome = transitions.whistle(new_ticket(), "w1", "需要街道协调", directory(), T0)
    assert outcome.ticket.tier is Tier.COMMUNITY
    assert outcome.ticket.clock.base_tier is Tier.COMMUNITY
    pinged = [n.person_id for n in outcome.notices if n.template == "officer_whistle"]
    assert pinged == ["oc"]
    assert outcome.events[0].detail["whistle"] is True


def test_whistle_at_the_top_is_refused() -> None:
    t = replace(new_ticket(), tier=Tier.DEPARTMENT)
    with pytest.raises(Refused, match="top_of_ladder"):
        transitions.whistle(t, "w1", "", directory(), T0)


def test_cancel_stops_the_clock() -> None:
    outcome = transitions.cancel(new_ticket(), "张阿姨", T0)
    assert outcome.ticket.state is TicketState.CANCELLED
    assert outcome.ticket.clock.phase is Phase.NONE


def test_an_urgent_ticket_pings_the_officers_of_every_tier_at_once() -> None:
    d = directory()
    outcome = transitions.open_ticket(
        ticket_id=1, ticket_type="report_fire_safety", grid="g1", chat_id="chat-1", reporter="r", assignee="w1",
        location="", text="着火了", policy=new_ticket().policy, now=T0, urgent=True, directory=d,
    )  # fmt: skip
    assert outcome.ticket.urgent
    assert outcome.notices[0].template == "urgent_opened_unlocated"  # no place yet: the answer asks for it
    pinged = {n.person_id for n in outcome.notices if n.template == "officer_urgent"}
    expected = {p.id for s in outcome.ticket.policy.ladder for p in d.officers_for("g1", s.tier, "report_fire_safety")}
    assert pinged == expected and len(pinged) >= 2
    assert outcome.events[0].detail["urgent"] is True


def test_an_intent_file_can_route_its_type_to_a_department() -> None:
    base = directory()
    env = Department("env", "环卫处", ("dp",), ("report_sanitation",))
    d = Directory(base.nodes.values(), base.people.values(), [*base.departments, env])
    routed = d.with_routes({"report_pigeons": "env", "report_x": "missing"})
    assert [x.id for x in routed.departments_for("report_pigeons")] == ["env"]
    assert [x.id for x in routed.departments_for("report_water")] == ["cg"]  # the catch-all takes the rest
