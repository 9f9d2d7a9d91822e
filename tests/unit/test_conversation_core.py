"""The conversation transitions of the pure core: drafts, followers, supplements, ratings by several
residents, default-satisfied closing, reopening with priority."""

from datetime import timedelta

import pytest

from tests.unit.factories import T0, new_ticket
from tickets import transitions
from tickets.model import CloseReason, Phase, Refused, TicketState


def later(seconds: float) -> object:
    return T0 + timedelta(seconds=seconds)


def test_a_draft_asks_where_and_tells_no_worker() -> None:
    outcome = transitions.open_ticket(
        ticket_id=1, ticket_type="report_water", grid="g1", chat_id="chat-1", reporter="张阿姨",
        assignee="w1", location="", text="漏水了", policy=new_ticket().policy, now=T0, draft=True,
    )  # fmt: skip
    assert (outcome.ticket.state, outcome.ticket.clock.phase) == (TicketState.DRAFT, Phase.LOCATION)
    assert [(n.template, n.chat_id, n.person_id) for n in outcome.notices] == [("ask_location", "chat-1", None)]


def test_locating_a_draft_opens_it_and_keeps_the_answer() -> None:
    draft = new_ticket(draft=True)
    opened = transitions.locate(draft, "张阿姨", "5号楼", "5号楼东边", T0 + timedelta(seconds=1))
    assert (opened.ticket.state, opened.ticket.location) == (TicketState.REPORTED, "5号楼")
    assert opened.ticket.clock.phase is Phase.ACCEPT and opened.ticket.clock.token == draft.clock.token + 1
    assert "补充：5号楼东边" in opened.ticket.text
    assert [n.template for n in opened.notices] == ["ticket_opened", "worker_new_ticket"]
    with pytest.raises(Refused, match="only_reporter"):
        transitions.locate(draft, "路人", "5号楼", "", T0)


def test_a_follower_is_linked_once_and_may_confirm_rate_and_reject() -> None:
    ticket = new_ticket()
    followed = transitions.follow(ticket, "老王", "我也看到了", T0).ticket
    assert followed.followers == ("老王",) and followed.residents == ("张阿姨", "老王")
    again = transitions.follow(followed, "老王", "又一次", T0)
    assert again.ticket.followers == ("老王",) and [n.template for n in again.notices] == ["already_following"]
    resolved = transitions.resolve(followed, "w1", "", T0).ticket
    rated = transitions.rate(resolved, "老王", 4, T0).ticket
    assert (rated.state, rated.rating, dict(rated.ratings)) == (TicketState.CLOSED, 4, {"老王": 4})
    both = transitions.rate(rated, "张阿姨", 2, T0).ticket
    assert (both.rating, dict(both.ratings)) == (4, {"老王": 4, "张阿姨": 2})
    with pytest.raises(Refused, match="already_rated"):
        transitions.rate(both, "老王", 5, T0)
    with pytest.raises(Refused, match="only_reporter"):
        transitions.rate(resolved, "路人", 5, T0)
    reopened = transitions.reject(both, "老王", "又堆满了", T0).ticket
    assert (reopened.state, reopened.rating, dict(reopened.ratings)) == (TicketState.ACCEPTED, None, {})


def test_a_follower_cancelling_only_unfollows() -> None:
    followed = transitions.follow(new_ticket(), "老王", "", T0).ticket
    out = transitions.cancel(followed, "老王", T0)
    assert (out.ticket.state, out.ticket.followers) == (TicketState.REPORTED, ())
    assert transitions.cancel(followed, "张阿姨", T0).ticket.state is TicketState.CANCELLED


def test_cancelling_a_draft_does_not_bother_the_worker() -> None:
    out = transitions.cancel(new_ticket(draft=True), "张阿姨", T0)
    assert out.ticket.state is TicketState.CANCELLED
    assert [n.template for n in out.notices] == ["ticket_cancelled"]


def test_a_supplement_reaches_the_worker_and_changes_no_state() -> None:
    ticket = new_ticket()
    out = transitions.supplement(ticket, "张阿姨", "又多了两袋", T0, ({"kind": "image", "url": "u"},))
    assert out.ticket == ticket
    assert out.events[0].detail["attachments"] == [{"kind": "image", "url": "u"}]
    assert [n.template for n in out.notices] == ["ticket_supplemented", "worker_supplemented"]
    with pytest.raises(Refused):
        transitions.supplement(ticket, "路人", "", T0)


def test_auto_close_is_default_satisfied_without_a_rating() -> None:
    resolved = transitions.resolve(new_ticket(), "w1", "", T0).ticket
    closed = transitions.auto_close(resolved, T0).ticket
    assert (closed.state, closed.close_reason, closed.rating) == (
        TicketState.CLOSED, CloseReason.DEFAULT_SATISFIED, None)  # fmt: skip
    assert closed.clock.phase is Phase.NONE


def test_a_consult_is_answered_with_the_workers_note() -> None:
    consult = transitions.open_ticket(
        ticket_id=2, ticket_type=transitions.CONSULT, grid="g1", chat_id="chat-1", reporter="张阿姨", assignee="w1",
        location="", text="社保怎么交", policy=new_ticket().policy, now=T0,
    )  # fmt: skip
    assert [n.template for n in consult.notices] == ["consult_forwarded", "worker_consult"]
    answered = transitions.resolve(consult.ticket, "w1", "在社区服务中心交", T0)
    assert answered.notices[0].template == "consult_answered"
    assert answered.notices[0].params["note"] == "在社区服务中心交"
