"""派单 · 签收 · 退单 · 指定 · 延期 in the pure core, and the planner around them (issue 20)."""

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bot.handlers.handling import extension_date
from bot.interpret import handling_words
from escalation import planner
from escalation.calendar import LOCAL
from escalation.planner import Action
from tests.unit.factories import T0, directory, new_ticket
from tickets import departments, transitions
from tickets.directory import Department, Directory
from tickets.model import EventKind, Phase, Refused, Ticket, TicketState, Tier
from tickets.texts import Text

SLOW = replace(new_ticket().policy, accept_s=3600, resolve_s=86400, nag_at=(0.5, 0.9), sign_s=1800, sign_urgent_s=600)
WATER = Department("sw", "区水务局", ("dw",))


def _directory() -> Directory:
    d = directory()
    people = [*d.people.values(), replace(d.people["dp"], id="dw", name="钱科长")]
    return Directory(d.nodes.values(), people, [*d.departments, WATER])


def _case() -> Ticket:
    return transitions.accept(new_ticket(policy=SLOW), "w1", T0).ticket


def _dispatched(at: timedelta = timedelta(0)) -> Ticket:
    d = _directory()
    return departments.dispatch(_case(), "ot", Tier.TOWNSHIP, d.departments[0], d, T0 + at).ticket


def test_dispatch_pings_the_department_and_starts_the_sign_deadline_not_the_resolve_one() -> None:
    d = _directory()
    out = departments.dispatch(_case(), "ot", Tier.TOWNSHIP, d.departments[0], d, T0)
    t = out.ticket
    assert (t.department, t.tier, t.clock.phase, t.dispatch and t.dispatch.tier) == (
        "cg", Tier.DEPARTMENT, Phase.SIGN, Tier.TOWNSHIP)  # fmt: skip
    assert [e.kind for e in out.events] == [EventKind.DISPATCHED]
    assert {n.person_id for n in out.notices if n.person_id} == {"dp"}
    assert any(n.chat_id == t.chat_id and n.template is Text.TICKET_DISPATCHED for n in out.notices)
    assert planner.next_due(t) == T0 + timedelta(seconds=1800)
    urgent = departments.dispatch(replace(_case(), urgent=True), "ot", Tier.TOWNSHIP, d.departments[0], d, T0).ticket
    assert planner.next_due(urgent) == T0 + timedelta(seconds=600)  # urgent: 10 minutes to sign


@pytest.mark.parametrize("tier", [Tier.GRID, Tier.COMMUNITY, Tier.DEPARTMENT])
def test_only_townships_and_the_command_centre_dispatch(tier: Tier) -> None:
    d = _directory()
    with pytest.raises(Refused, match="dispatch_officers_only"):
        departments.dispatch(_case(), "x", tier, d.departments[0], d, T0)


def test_the_handling_clock_counts_from_the_dispatch_not_from_the_signing() -> None:
    t = _dispatched()
    signed = departments.sign(t, "dp", _directory(), T0 + timedelta(minutes=20))
    s = planner.skip_past_nags(signed.ticket, T0 + timedelta(minutes=20))
    assert s.state is TicketState.ACCEPTED and s.dispatch and s.dispatch.signed_by == "dp"
    assert (s.clock.phase, s.clock.started_at) == (Phase.RESOLVE, T0)
    assert planner.phase_end(s) == planner.calendar_of(s).after(T0, SLOW.resolve_s)
    assert [e.detail["late"] for e in signed.events] == [False]
    with pytest.raises(Refused, match="already_signed"):
        departments.sign(s, "dp", _directory(), T0)
    with pytest.raises(Refused, match="department_only"):
        departments.sign(t, "dw", _directory(), T0)


def test_a_missed_sign_deadline_tells_the_department_and_the_dispatcher_and_the_clock_runs_on() -> None:
    t = _dispatched()
    late = planner.fire(t, t.clock.token, _directory(), T0 + timedelta(seconds=1801))
    assert late is not None
    assert [e.kind for e in late.events] == [EventKind.SIGN_OVERDUE]
    assert {n.person_id for n in late.notices} == {"dp", "ot"}
    assert (late.ticket.clock.phase, late.ticket.clock.started_at) == (Phase.RESOLVE, T0)
    first_nag = T0 + timedelta(seconds=SLOW.resolve_s * 0.5)  # to the department
    assert planner.next_due(late.ticket) == first_nag
    signed = departments.sign(late.ticket, "dp", _directory(), T0 + timedelta(hours=1))
    assert signed.events[0].detail["late"] is True and signed.ticket.clock.started_at == T0


def test_nags_of_a_dispatched_case_go_to_the_department() -> None:
    t = _dispatched()
    assert departments.handlers(t, _directory()) == ["dp"]
    signed = departments.sign(t, "dp", _directory(), T0).ticket
    assert departments.handlers(signed, _directory()) == ["dp"]
    assert departments.handlers(_case(), _directory()) == ["w1"]


def test_a_return_needs_a_reason_and_goes_back_to_the_dispatching_tier() -> None:
    t = _dispatched()
    with pytest.raises(Refused, match="return_needs_reason"):
        departments.return_case(t, "dp", "", _directory(), T0)
    out = departments.return_case(t, "dp", "不属于城管职责", _directory(), T0)
    back = out.ticket
    assert (back.department, back.returns, back.tier, back.clock.phase) == (None, 1, Tier.TOWNSHIP, Phase.RESOLVE)
    assert [n.person_id for n in out.notices] == ["ot"]
    assert out.events[0].detail == {"department": "cg", "reason": "不属于城管职责", "returns": 1, "tier": "township"}


def test_after_two_returns_the_tier_above_assigns_and_the_department_cannot_return_again() -> None:
    d = _directory()
    once = departments.return_case(_dispatched(), "dp", "不归我们", d, T0).ticket
    again = departments.dispatch(once, "ot", Tier.TOWNSHIP, WATER, d, T0).ticket
    twice = departments.return_case(again, "dw", "也不归我们", d, T0)
    assert twice.ticket.tier is Tier.DISTRICT and twice.ticket.returns == 2
    assert {n.person_id for n in twice.notices} == {"ot", "od"}  # the dispatcher, and the district to decide
    with pytest.raises(Refused, match="arbitration_above"):
        departments.dispatch(twice.ticket, "ot", Tier.TOWNSHIP, WATER, d, T0)
    assigned = departments.dispatch(twice.ticket, "od", Tier.DISTRICT, WATER, d, T0)
    assert assigned.events[0].kind is EventKind.ARBITRATED and assigned.ticket.dispatch
    assert assigned.ticket.dispatch.final
    with pytest.raises(Refused, match="return_not_allowed"):
        departments.return_case(assigned.ticket, "dw", "还是不归我们", d, T0)


def test_an_approved_extension_moves_the_deadline_and_a_refused_one_does_not() -> None:
    d = _directory()
    signed = planner.skip_past_nags(departments.sign(_dispatched(), "dp", d, T0).ticket, T0)
    due = planner.phase_end(signed)
    until = due + timedelta(days=10)
    with pytest.raises(Refused, match="extension_needs_reason"):
        departments.request_extension(signed, "dp", until, "", due, d, T0)
    with pytest.raises(Refused, match="extension_not_later"):
        departments.request_extension(signed, "dp", due - timedelta(hours=1), "等配件", due, d, T0)
    with pytest.raises(Refused, match="extension_too_late"):
        departments.request_extension(signed, "dp", until, "等配件", due, d, due)
    asked = departments.request_extension(signed, "dp", until, "等配件", due, d, T0 + timedelta(hours=1))
    assert [n.person_id for n in asked.notices] == ["ot"]  # the dispatcher decides
    with pytest.raises(Refused, match="extension_deciders_only"):
        departments.decide_extension(asked.ticket, "oc", Tier.COMMUNITY, True, d, T0)
    with pytest.raises(Refused, match="extension_deciders_only"):
        departments.decide_extension(asked.ticket, "dp", Tier.DEPARTMENT, True, d, T0)
    refused = departments.decide_extension(asked.ticket, "ot", Tier.TOWNSHIP, False, d, T0)
    assert refused.ticket.extension is None and planner.phase_end(refused.ticket) == due
    approved = departments.decide_extension(asked.ticket, "ot", Tier.TOWNSHIP, True, d, T0 + timedelta(hours=2))
    moved = planner.skip_past_nags(approved.ticket, T0 + timedelta(hours=2))
    assert planner.phase_end(moved) == until and moved.clock.until == until
    nags = [s for s in planner.schedule(moved) if s.action is Action.NAG]
    assert [s.at for s in nags] == [T0 + (until - T0) * 0.5, T0 + (until - T0) * 0.9]
    assert planner.next_due(moved) == nags[0].at


def test_an_extension_on_an_undispatched_case_is_decided_by_the_community() -> None:
    d = _directory()
    case = _case()
    due = planner.phase_end(case)
    with pytest.raises(Refused, match="not_staff"):
        departments.request_extension(case, "dp", due + timedelta(days=1), "等配件", due, d, T0)
    asked = departments.request_extension(case, "w1", due + timedelta(days=1), "等配件", due, d, T0)
    assert [n.person_id for n in asked.notices] == ["oc"]
    assert departments.decide_extension(asked.ticket, "oc", Tier.COMMUNITY, True, d, T0).ticket.clock.until


def test_departments_are_named_by_id_name_or_their_words_in_order() -> None:
    d = Directory(
        directory().nodes.values(),
        directory().people.values(),
        [
            Department("cg", "区城市管理局", ()),
            Department("zj", "区住房和城乡建设局", ()),
            Department("sj", "区市场监督管理局", ()),
        ],
    )
    assert d.department("城管").id == "cg"  # type: ignore[union-attr]
    assert d.department("住建").id == "zj"  # type: ignore[union-attr]
    assert d.department("市监").id == "sj"  # type: ignore[union-attr]
    assert d.department("zj").id == "zj"  # type: ignore[union-attr]
    assert d.department("区") is None  # several
    assert d.department("环保") is None and d.department("") is None


def test_an_extension_fixes_only_the_running_phase_a_rework_gets_its_own_shorter_deadline() -> None:
    """Review: an approved extension's date stayed the deadline of every later phase (rework, reopen …)."""
    d = _directory()
    signed = planner.skip_past_nags(departments.sign(_dispatched(), "dp", d, T0).ticket, T0)
    due = planner.phase_end(signed)
    asked = departments.request_extension(signed, "dp", due + timedelta(days=10), "等配件", due, d, T0)
    extended = departments.decide_extension(asked.ticket, "ot", Tier.TOWNSHIP, True, d, T0).ticket
    assert planner.fixed_deadline(extended) == due + timedelta(days=10)
    resolved = transitions.resolve(extended, "dp", "", T0 + timedelta(hours=1)).ticket
    reopened = transitions.reject(resolved, "张阿姨", "还没好", T0 + timedelta(hours=2)).ticket
    assert planner.fixed_deadline(reopened) is None
    assert planner.phase_end(reopened) == T0 + timedelta(hours=2, seconds=SLOW.resolve_s // 2)


def test_a_decision_needs_an_open_case_and_nobody_approves_their_own_request() -> None:
    d = _directory()
    case = _case()
    due = planner.phase_end(case)
    asked = departments.request_extension(case, "oc", due + timedelta(days=1), "等配件", due, d, T0)
    with pytest.raises(Refused, match="extension_deciders_only"):
        departments.decide_extension(asked.ticket, "oc", Tier.COMMUNITY, True, d, T0)
    resolved = transitions.resolve(asked.ticket, "w1", "", T0).ticket
    assert resolved.extension is None  # a resolve ends the request
    with pytest.raises(Refused, match="not_open"):
        departments.decide_extension(
            replace(resolved, extension=asked.ticket.extension), "ot", Tier.TOWNSHIP, True, d, T0
        )


def test_after_two_returns_the_ladder_climbing_on_does_not_lock_out_the_deciding_tier() -> None:
    d = _directory()
    once = departments.return_case(_dispatched(), "dp", "不归我们", d, T0).ticket
    again = departments.dispatch(once, "ot", Tier.TOWNSHIP, WATER, d, T0).ticket
    waiting = departments.return_case(again, "dw", "也不归我们", d, T0).ticket
    climbed = replace(waiting, tier=Tier.DEPARTMENT)  # the district's deadline passed: the ladder's last rung
    assert departments.dispatch(climbed, "od", Tier.DISTRICT, WATER, d, T0).ticket.dispatch.final  # type: ignore[union-attr]


def test_a_dispatched_case_is_not_reassigned_to_a_worker_behind_the_departments_back() -> None:
    with pytest.raises(Refused, match="already_dispatched"):
        transitions.reassign(_dispatched(), "admin", "w1", _directory(), T0)


NOT_COMMANDS = ["#12 签收了吗", "#12 退单了？", "#12 核查通过了吗", "#12 已联系派出所", "#12 派人去看了", "#12 返工中"]


@pytest.mark.parametrize("text", NOT_COMMANDS)
def test_questions_and_notes_with_the_words_are_not_commands(text: str) -> None:
    assert handling_words(text) is None


@pytest.mark.parametrize(("text", "rest"), [("#12 派给城管", "城管"), ("#12 派到 水务局", "水务局"), ("#12 签收", ""),
                                            ("#12 退单：不归我们", "不归我们")])  # fmt: skip
def test_commands_and_what_follows_them(text: str, rest: str) -> None:
    said = handling_words(text)
    assert said is not None and said[1] == rest


def test_an_extension_date_is_the_first_real_date_not_a_measurement() -> None:
    now = T0
    assert extension_date("3.5米管道 1月20日到货", now) == datetime(2027, 1, 20, 23, 59, 59, tzinfo=LOCAL)
    assert extension_date("需要3.5米的管道", now) is None
    assert extension_date("2027/2/3 等配件", now) == datetime(2027, 2, 3, 23, 59, 59, tzinfo=LOCAL)
    assert extension_date("11-1", now) == datetime(2027, 11, 1, 23, 59, 59, tzinfo=LOCAL)  # past this year: next
