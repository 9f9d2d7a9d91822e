"""Proof, 核查, 返工 and 督办 cards in the pure core and the planner (issue 20)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from escalation import planner
from escalation.calendar import LOCAL, add_workdays
from escalation.planner import Action
from tests.unit.factories import T0, directory, new_ticket
from tickets import supervision, transitions, verification
from tickets.model import CloseReason, EventKind, Phase, Refused, Ticket, TicketEvent, TicketState, Tier, Verify

CHECKED = replace(new_ticket().policy, resolve_s=7200, proof=True, verify=Verify.COMMUNITY, verify_s=3600, cards=True,
                  red_card_days=5)  # fmt: skip
PHOTO = {"kind": "image", "url": "https://x/after.jpg"}
BEFORE = {"kind": "image", "url": "https://x/before.jpg"}


def _accepted() -> tuple[Ticket, list[TicketEvent]]:
    opened = transitions.open_ticket(ticket_id=7, ticket_type="report_greenery", grid="g1", chat_id="chat-1",
                                     reporter="张阿姨", assignee="w1", location="东门", text="东门大树枯死了",
                                     policy=CHECKED, now=T0, attachments=(BEFORE,))  # fmt: skip
    accepted = transitions.accept(opened.ticket, "w1", T0)
    return accepted.ticket, [*opened.events, *accepted.events]


def test_a_resolve_needs_an_after_photo_from_staff_since_the_round_began() -> None:
    t, history = _accepted()
    assert verification.before_photos(history) and not verification.after_photos(t, history)
    with pytest.raises(Refused, match="proof_required"):
        verification.resolve(t, "w1", "锯了", T0, history=history, attachments=(), directory=directory())
    done = verification.resolve(t, "w1", "锯了", T0, history=history, attachments=(PHOTO,), directory=directory())
    assert done.ticket.state is TicketState.RESOLVED and done.ticket.verify_pending
    assert done.events[0].detail["attachments"] == [PHOTO]
    assert any(n.attachments == (PHOTO,) for n in done.notices if n.chat_id)  # the group post shows it
    sent = transitions.staff_photos(t, "w1", "", T0, (PHOTO,))
    assert verification.after_photos(t, [*history, *sent.events]) == [PHOTO]


def test_the_community_verifies_and_a_failure_is_rework_with_a_shorter_deadline() -> None:
    t, history = _accepted()
    done = verification.resolve(t, "w1", "", T0, history=history, attachments=(PHOTO,), directory=directory())
    assert done.ticket.clock.phase is Phase.VERIFY
    assert {n.person_id for n in done.notices if n.person_id} == {"oc"}
    assert planner.next_due(done.ticket) == T0 + timedelta(hours=1)
    with pytest.raises(Refused, match="verifiers_only"):
        verification.verify(done.ticket, "w1", None, True, "", directory(), T0)
    with pytest.raises(Refused, match="verify_needs_reason"):
        verification.verify(done.ticket, "oc", Tier.COMMUNITY, False, "", directory(), T0)
    failed = verification.verify(done.ticket, "oc", Tier.COMMUNITY, False, "树桩还在", directory(), T0)
    rework = failed.ticket
    assert (rework.state, rework.reworks, rework.clock.phase) == (TicketState.ACCEPTED, 1, Phase.RESOLVE)
    assert planner.phase_end(rework) == T0 + timedelta(hours=1)  # half the resolve time
    assert failed.events[0].kind is EventKind.VERIFICATION_FAILED and failed.events[0].detail["handler"] == "w1"
    history = [*history, *done.events, *failed.events]
    with pytest.raises(Refused, match="proof_required"):  # the first round's photo is no proof of the rework
        verification.resolve(rework, "w1", "", T0, history=history, attachments=(), directory=directory())
    again = verification.resolve(rework, "w1", "", T0, history=history, attachments=(PHOTO,), directory=directory())
    passed = verification.verify(again.ticket, "oc", Tier.COMMUNITY, True, "", directory(), T0)
    assert passed.ticket.clock.phase is Phase.FEEDBACK and not passed.ticket.verify_pending
    closed = transitions.auto_close(passed.ticket, T0)
    assert closed.ticket.close_reason is CloseReason.NO_RATING  # never 默认满意 after a failed check


def test_a_rating_during_the_check_is_kept_and_closes_the_case_when_the_check_passes() -> None:
    t, history = _accepted()
    done = verification.resolve(t, "w1", "", T0, history=history, attachments=(PHOTO,), directory=directory())
    rated = transitions.rate(done.ticket, "张阿姨", 4, T0)
    assert rated.ticket.state is TicketState.RESOLVED and rated.ticket.rating == 4
    confirmed = transitions.confirm(done.ticket, "张阿姨", T0)
    assert confirmed.ticket.state is TicketState.RESOLVED
    passed = verification.verify(rated.ticket, "ot", Tier.TOWNSHIP, True, "", directory(), T0)
    assert (passed.ticket.state, passed.ticket.close_reason) == (TicketState.CLOSED, CloseReason.RATED)


def test_an_unchecked_resolve_reminds_the_community_and_the_township_once() -> None:
    t, history = _accepted()
    done = verification.resolve(t, "w1", "", T0, history=history, attachments=(PHOTO,), directory=directory())
    late = planner.fire(done.ticket, done.ticket.clock.token, directory(), T0 + timedelta(hours=1, seconds=1))
    assert late is not None and {n.person_id for n in late.notices} == {"oc", "ot"}
    assert late.ticket.clock.phase is Phase.NONE and late.ticket.verify_pending


def test_cards_come_at_the_deadline_and_some_workdays_later() -> None:
    t, _ = _accepted()
    steps = planner.schedule(t)
    deadline = T0 + timedelta(hours=2)
    assert [(s.action, s.at) for s in steps[:2]] == [
        (Action.NAG, T0 + timedelta(hours=1)),
        (Action.YELLOW_CARD, deadline),
    ]
    assert steps[2].action is Action.ESCALATE and steps[2].at == deadline  # the card goes first
    red = next(s for s in steps if s.action is Action.RED_CARD)
    assert red.at == add_workdays(deadline, 5)
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    events, notices = supervision.card(t, directory(), deadline, red=False, due=deadline)
    assert events[0].kind is EventKind.YELLOW_CARD and {n.person_id for n in notices} == {"w1", "oc"}
    events, notices = supervision.card(t, directory(), deadline, red=True, due=deadline)
    assert events[0].kind is EventKind.RED_CARD and {n.person_id for n in notices} == {"ot"}


def test_workdays_skip_weekends_and_keep_the_time_of_day() -> None:
    friday = datetime(2026, 11, 20, 17, 0, tzinfo=LOCAL)
    assert add_workdays(friday, 1) == datetime(2026, 11, 23, 17, 0, tzinfo=LOCAL)
    assert add_workdays(friday.astimezone(UTC), 5).astimezone(LOCAL) == datetime(2026, 11, 27, 17, 0, tzinfo=LOCAL)


def test_cards_on_the_working_calendar_fall_in_working_time_and_the_red_one_workdays_later() -> None:
    """A 4 working-hour case accepted Friday 16:00 (Beijing) is due Monday 11:00 (1.5 h on Friday,
    2.5 h on Monday); the yellow card then, the red one five workdays later at the same time."""
    working = replace(CHECKED, resolve_s=4 * 3600, working=(8 * 60 + 30, 17 * 60 + 30), quiet=None)
    friday = datetime(2026, 11, 20, 16, 0, tzinfo=LOCAL)
    t = transitions.accept(replace(_accepted()[0], state=TicketState.REPORTED, policy=working), "w1", friday).ticket
    steps = planner.schedule(t)
    yellow = next(s for s in steps if s.action is Action.YELLOW_CARD)
    red = next(s for s in steps if s.action is Action.RED_CARD)
    assert yellow.at == datetime(2026, 11, 23, 11, 0, tzinfo=LOCAL)
    assert red.at == datetime(2026, 11, 30, 11, 0, tzinfo=LOCAL)
