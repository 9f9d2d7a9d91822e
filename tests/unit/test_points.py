"""Points (积分) in the pure core: each rule on hand-built timelines (the real transitions), the account
scopes, idempotence, penalties, the on-time stamp of the escalation layer, the policy file and the
平安超市's redemption check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bot.interpret import Route, Situation, route
from bot.nlu.port import Parse
from bot.render import Renderer, Templates
from config.points import load_points, parse_points
from config.settings import CONFIG
from escalation.points import PointsLedger, resolved_on_time
from tests.unit.factories import T0, directory, new_ticket
from tickets import departments, transitions, verification
from tickets.city import CITY_REPORTER
from tickets.directory import Department, Directory
from tickets.model import CloseReason, EventKind, Outcome, Ticket, TicketEvent, Tier
from tickets.points import (
    DEFAULT_POINTS,
    STAFF,
    Balance,
    Entry,
    PointsError,
    PointsPolicy,
    Rule,
    case_entries,
    checkin_entry,
    month_table,
    redeem,
)

POLICY = PointsPolicy()
SLOW = replace(new_ticket().policy, accept_s=3600, resolve_s=86400)
D = directory()


def staff(person: str) -> bool:
    return D.person(person) is not None


class Case:
    """A case run through the real transitions, collecting its timeline; the resolve events are
    stamped by the escalation layer's ledger, as the case service does."""

    def __init__(self, ticket: Ticket | None = None) -> None:
        self.ticket = ticket or new_ticket(policy=SLOW)
        self.events: list[TicketEvent] = []
        self.now = T0
        self.ledger = PointsLedger(lambda: POLICY, lambda: D)

    def __call__(self, step: Callable[[Ticket, datetime], Outcome], after: timedelta = timedelta(minutes=1)) -> Case:
        self.now += after
        outcome = self.ledger.stamp(step(self.ticket, self.now), self.ticket, self.now)
        self.ticket, self.events = outcome.ticket, [*self.events, *outcome.events]
        return self

    def entries(self, policy: PointsPolicy = POLICY) -> set[tuple[str, str, Rule, int]]:
        return {(e.person, e.scope, e.rule, e.points) for e in case_entries(self.ticket, self.events, policy, staff)}


def accept(t: Ticket, now: datetime) -> Outcome:
    return transitions.accept(t, "w1", now)


def resolve(t: Ticket, now: datetime) -> Outcome:
    return transitions.resolve(t, "w1", "清理完毕", now)


def confirm(t: Ticket, now: datetime) -> Outcome:
    return transitions.confirm(t, "张阿姨", now)


def rating(value: int, who: str = "张阿姨") -> Callable[[Ticket, datetime], Outcome]:
    return lambda t, now: transitions.rate(t, who, value, now)


def test_a_fixed_case_pays_the_reporter_for_the_report_the_confirmation_and_the_rating_and_the_worker_on_time() -> None:
    case = Case()(accept)(resolve)(confirm)(rating(5))
    assert case.entries() == {
        ("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10), ("张阿姨", "g1", Rule.FIX_CONFIRMED, 2),
        ("张阿姨", "g1", Rule.RATING_GIVEN, 2), ("w1", STAFF, Rule.CLOSED_ON_TIME, 5),
    }  # fmt: skip
    entries = case_entries(case.ticket, case.events, POLICY, staff)
    assert {e.ref for e in entries} == {"#7"} and {e.ticket_id for e in entries} == {7}
    assert {e.grid for e in entries} == {"g1"}  # the grid of the case, for the monthly table


def test_a_rating_that_closes_the_case_confirms_the_fix_from_three_up() -> None:
    assert Case()(accept)(resolve)(rating(3)).entries() == {
        ("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10), ("张阿姨", "g1", Rule.FIX_CONFIRMED, 2),
        ("张阿姨", "g1", Rule.RATING_GIVEN, 2), ("w1", STAFF, Rule.CLOSED_ON_TIME, 5),
    }  # fmt: skip
    poor = Case()(accept)(resolve)(rating(1)).entries()  # a real case, but no confirmed fix: no closure points
    assert poor == {("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10), ("张阿姨", "g1", Rule.RATING_GIVEN, 2)}


def test_default_satisfied_is_a_real_case_and_an_on_time_closure_but_nobody_confirmed_or_rated() -> None:
    case = Case()(accept)(resolve)(lambda t, now: transitions.auto_close(t, now), timedelta(days=1))
    assert case.entries() == {("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10), ("w1", STAFF, Rule.CLOSED_ON_TIME, 5)}


def test_cancelled_closed_by_staff_and_consult_cases_earn_nothing() -> None:
    assert Case()(lambda t, now: transitions.cancel(t, "张阿姨", now)).entries() == set()
    by_staff = Case()(accept)(lambda t, now: transitions.close_by_staff(t, "oc", "重复工单，见 #3", now))
    assert by_staff.entries() == set()
    consult = Case(replace(new_ticket(policy=SLOW), type="consult"))(accept)(resolve)(confirm)(rating(5))
    assert consult.entries() == set()


def test_a_follower_is_a_duplicate_report_but_may_confirm_and_rate() -> None:
    case = Case()(lambda t, now: transitions.follow(t, "老王", "3号楼门口垃圾", now))(accept)(resolve)
    case(rating(4, "老王"))(rating(5))
    assert case.entries() == {
        ("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10), ("张阿姨", "g1", Rule.RATING_GIVEN, 2),
        ("老王", "g1", Rule.FIX_CONFIRMED, 2), ("老王", "g1", Rule.RATING_GIVEN, 2),
        ("w1", STAFF, Rule.CLOSED_ON_TIME, 5),
    }  # fmt: skip


def test_a_late_resolve_earns_no_closure_points() -> None:
    late = Case()(accept)(resolve, timedelta(days=2))(confirm)  # resolve time is one day
    assert next(e for e in late.events if e.kind is EventKind.RESOLVED).detail["on_time"] is False
    assert ("w1", STAFF, Rule.CLOSED_ON_TIME, 5) not in late.entries()
    assert ("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10) in late.entries()


def test_an_unstamped_resolve_is_on_time_unless_an_overdue_escalation_came_first() -> None:
    """Timelines written before the stamp (or rebuilt): the bulletin's definition of on time."""
    case = Case()(accept)(resolve)(confirm)
    plain = [replace(e, detail={"note": "x"}) if e.kind is EventKind.RESOLVED else e for e in case.events]
    assert Rule.CLOSED_ON_TIME in {e.rule for e in case_entries(case.ticket, plain, POLICY, staff)}
    overdue = TicketEvent(EventKind.ESCALATED, "system", T0, {"tier": "community"})
    whistle = TicketEvent(EventKind.ESCALATED, "w1", T0, {"tier": "community", "whistle": True})
    assert Rule.CLOSED_ON_TIME not in {e.rule for e in case_entries(case.ticket, [overdue, *plain], POLICY, staff)}
    assert Rule.CLOSED_ON_TIME in {e.rule for e in case_entries(case.ticket, [whistle, *plain], POLICY, staff)}


def test_a_failed_verification_costs_the_resolver_once_and_the_next_fix_can_still_earn() -> None:
    case = Case()(accept)(resolve)(lambda t, now: transitions.reject(t, "张阿姨", "还没修好", now))
    assert case.entries() == {("w1", STAFF, Rule.VERIFICATION_FAILED, -5)}
    case(resolve)(lambda t, now: transitions.reject(t, "张阿姨", "又漏了", now))(resolve)(confirm)
    entries = case_entries(case.ticket, case.events, POLICY, staff)
    assert [e.rule for e in entries].count(Rule.VERIFICATION_FAILED) == 1  # once per case (the ledger's key)
    assert case.entries() == {
        ("w1", STAFF, Rule.VERIFICATION_FAILED, -5), ("w1", STAFF, Rule.CLOSED_ON_TIME, 5),
        ("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10), ("张阿姨", "g1", Rule.FIX_CONFIRMED, 2),
    }  # fmt: skip


def test_a_failed_community_check_costs_the_resolver_and_the_verified_rework_still_counts_as_fixed() -> None:
    """核查不通过 (返工) is a failed verification like a resident's reopen; the case that then closes
    without a rating (never 默认满意 after 返工) was verified: the report was real."""
    case = Case()(accept)(resolve)
    case(lambda t, now: _verify(t, False, now))(resolve)(lambda t, now: _verify(t, True, now))
    case(lambda t, now: transitions.auto_close(t, now))
    assert case.ticket.close_reason is CloseReason.NO_RATING
    assert case.entries() == {("w1", STAFF, Rule.VERIFICATION_FAILED, -5), ("w1", STAFF, Rule.CLOSED_ON_TIME, 5),
                              ("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10)}  # fmt: skip


def test_a_rating_given_while_the_community_checks_confirms_the_fix_when_the_check_closes_the_case() -> None:
    """Review: the 核查通过 close is the verifier's event; the rating that confirms the fix is the resident's."""
    case = Case()(accept)(resolve)(lambda t, now: transitions.rate(replace(t, verify_pending=True), "张阿姨", 5, now))
    case(lambda t, now: _verify(t, True, now))
    assert case.ticket.close_reason is CloseReason.RATED
    assert case.entries() == {
        ("w1", STAFF, Rule.CLOSED_ON_TIME, 5), ("张阿姨", "g1", Rule.REPORT_ACCEPTED, 10),
        ("张阿姨", "g1", Rule.FIX_CONFIRMED, 2), ("张阿姨", "g1", Rule.RATING_GIVEN, 2),
    }  # fmt: skip


def test_the_city_platform_is_no_resident_and_earns_nothing() -> None:
    case = Case(new_ticket(reporter=CITY_REPORTER, policy=SLOW))(accept)(resolve)(
        lambda t, now: transitions.auto_close(t, now)
    )
    assert case.entries() == {("w1", STAFF, Rule.CLOSED_ON_TIME, 5)}


def _verify(t: Ticket, passed: bool, now: datetime) -> Outcome:
    pending = replace(t, verify_pending=True)
    return verification.verify(pending, "oc", Tier.COMMUNITY, passed, "" if passed else "没清干净", directory(), now)


def test_a_mediated_dispute_earns_the_mediation_on_top_of_the_closure() -> None:
    dispute = Case(replace(new_ticket(policy=SLOW), type="report_dispute"))(accept)(resolve)(confirm)
    assert ("w1", STAFF, Rule.DISPUTE_MEDIATED, 10) in dispute.entries()
    poorly = Case(replace(new_ticket(policy=SLOW), type="report_dispute"))(accept)(resolve)(rating(2))
    assert Rule.DISPUTE_MEDIATED not in {r for _, _, r, _ in poorly.entries()}
    other = PointsPolicy(dispute_types=frozenset({"report_noise"}))
    assert Rule.DISPUTE_MEDIATED not in {r for _, _, r, _ in dispute.entries(other)}


WATER = Department("sw", "区水务局", ("dw",))


def _with_water() -> Directory:
    people = [*D.people.values(), replace(D.people["dp"], id="dw", name="钱科长")]
    return Directory(D.nodes.values(), people, [*D.departments, WATER])


def test_a_return_is_pushback_when_the_case_is_dispatched_or_assigned_to_that_department_again() -> None:
    d = _with_water()
    cg, sw = d.departments[0], WATER

    def send(dept: Department, who: str = "ot", tier: Tier = Tier.TOWNSHIP) -> Callable[[Ticket, datetime], Outcome]:
        return lambda t, now: departments.dispatch(t, who, tier, dept, d, now)

    def back(who: str) -> Callable[[Ticket, datetime], Outcome]:
        return lambda t, now: departments.return_case(t, who, "不归我们管", d, now)

    case = Case()(accept)(send(cg))(back("dp"))(send(sw))
    assert case.entries() == set()  # the first department was not the right one after all: a fair return
    case(back("dw"))(send(cg, "od", Tier.DISTRICT))  # 指定 by the district: back to 城管, which returned it first
    assert case.events[-1].kind is EventKind.ARBITRATED
    assert {(p, r, n) for p, _, r, n in case.entries()} == {("dp", Rule.RETURN_PUSHBACK, -10)}
    again = Case()(accept)(send(cg))(back("dp"))(send(cg))  # the township sends it straight back to 城管
    assert again.entries() == {("dp", STAFF, Rule.RETURN_PUSHBACK, -10)}


def test_residents_earn_only_residents_rules_and_staff_only_staffs() -> None:
    """A worker's own round report (巡查) is no resident's report; nobody gains from their own case."""
    case = Case(new_ticket(reporter="w1", policy=SLOW))(accept)(resolve)(
        lambda t, now: transitions.confirm(t, "w1", now)
    )
    assert case.entries() == {("w1", STAFF, Rule.CLOSED_ON_TIME, 5)}


def test_deriving_again_gives_the_same_entries_so_the_ledger_keeps_each_once() -> None:
    case = Case()(accept)(resolve)
    before = {e.key for e in case_entries(case.ticket, case.events, POLICY, staff)}
    case(confirm)(rating(5))
    first = case_entries(case.ticket, case.events, POLICY, staff)
    second = case_entries(case.ticket, case.events, POLICY, staff)
    assert first == second and len({e.key for e in first}) == len(first)
    assert before <= {e.key for e in first}


def test_a_rule_worth_nothing_is_off() -> None:
    policy = PointsPolicy({**DEFAULT_POINTS, Rule.RATING_GIVEN: 0, Rule.CHECKIN: 0})
    assert Rule.RATING_GIVEN not in {r for _, _, r, _ in Case()(accept)(resolve)(rating(5)).entries(policy)}
    assert checkin_entry("w1", "g1", "2026-11-20", T0, policy) is None


def test_a_checkin_counts_once_a_day_on_the_workers_staff_account() -> None:
    entry = checkin_entry("w1", "g1", "2026-11-20", T0, POLICY)
    assert entry == Entry("w1", STAFF, Rule.CHECKIN, 1, "2026-11-20", "g1", T0)
    assert entry.key != checkin_entry("w1", "g1", "2026-11-21", T0, POLICY).key  # type: ignore[union-attr]


def test_on_time_is_within_the_running_deadline_and_a_dispatched_case_counts_from_the_dispatch() -> None:
    accepted = transitions.accept(new_ticket(policy=SLOW), "w1", T0).ticket
    assert resolved_on_time(accepted, T0 + timedelta(hours=23)) is True
    assert resolved_on_time(accepted, T0 + timedelta(hours=25)) is False
    d = _with_water()
    sent = departments.dispatch(accepted, "ot", Tier.TOWNSHIP, d.departments[0], d, T0 + timedelta(hours=1)).ticket
    assert resolved_on_time(sent, T0 + timedelta(hours=24, minutes=30)) is True  # not the 30-minute sign deadline
    assert resolved_on_time(sent, T0 + timedelta(hours=25, minutes=30)) is False
    closed = transitions.confirm(transitions.resolve(accepted, "w1", "", T0).ticket, "张阿姨", T0).ticket
    assert resolved_on_time(closed, T0) is None


def test_the_shipped_policy_file_holds_every_rule_and_bad_files_are_refused() -> None:
    shipped = load_points(CONFIG / "points.yaml")
    assert set(shipped.points) == set(Rule) and shipped.dispute_types == {"report_dispute"}
    assert shipped.of(Rule.VERIFICATION_FAILED) < 0 and shipped.of(Rule.RETURN_PUSHBACK) < 0
    assert parse_points({"rules": {"checkin": 3}}).of(Rule.CHECKIN) == 3
    assert parse_points({"rules": {"checkin": 3}}).of(Rule.REPORT_ACCEPTED) == DEFAULT_POINTS[Rule.REPORT_ACCEPTED]
    assert parse_points(None) == PointsPolicy()
    for bad, why in [({"rules": {"chekin": 1}}, "unknown rules"), ({"rules": {"checkin": -1}}, "0 or above"),
                     ({"rules": {"return_pushback": 5}}, "penalty"), ({"rules": {"checkin": True}}, "whole number"),
                     ({"rules": {"checkin": 1.5}}, "whole number"), ({"dispute_types": "report_dispute"}, "list"),
                     ({"points": {}}, "rules"), ([1], "rules")]:  # fmt: skip
        with pytest.raises(PointsError, match=why):
            parse_points(bad)


def test_a_redemption_needs_a_person_an_item_and_no_more_than_the_balance() -> None:
    balance = Balance(earned=30, redeemed=10)
    done = redeem(balance, "张阿姨", "g1", "g1", "  洗衣粉   一袋 ", 20, T0, "admin")
    assert (done.item, done.points, done.scope) == ("洗衣粉 一袋", 20, "g1")
    for person, item, points, why in [("张阿姨", "肥皂", 21, "积分不足：可用 20 分"), ("张阿姨", "", 5, "物品"),
                                      (" ", "肥皂", 5, "兑换人"), ("张阿姨", "肥皂", 0, "整数"),
                                      ("张阿姨", "肥皂", -3, "整数")]:  # fmt: skip
        with pytest.raises(PointsError, match=why):
            redeem(balance, person, "g1", "g1", item, points, T0, "admin")
    with pytest.raises(PointsError, match="可用 -5 分"):  # penalties can leave a balance below zero
        redeem(Balance(earned=-5), "w1", STAFF, "g1", "毛巾", 1, T0, "admin")


def test_the_monthly_table_lists_the_grids_staff_and_everyone_who_earned_most_first() -> None:
    sums = [("g1", "张阿姨", "g1", "report_accepted", 10), ("g1", "张阿姨", "g1", "rating_given", 2),
            ("g1", "w1", "", "checkin", 3), ("g2", "老王", "g2", "rating_given", 2)]  # fmt: skip
    balances = {("张阿姨", "g1"): Balance(40, 12), ("w1", STAFF): Balance(3)}
    table = month_table(sums, balances, {"g1": ["w1"], "g2": ["w2"]})
    assert [(r.person, r.total, r.balance.available) for r in table["g1"]] == [("张阿姨", 12, 28), ("w1", 3, 3)]
    assert table["g1"][0].by_rule == {Rule.REPORT_ACCEPTED: 10, Rule.RATING_GIVEN: 2}
    assert [(r.person, r.scope, r.total) for r in table["g2"]] == [("老王", "g2", 2), ("w2", STAFF, 0)]


@pytest.mark.parametrize("text", ["我的积分", "/积分", "／我的积分", "我的积分？", "查积分", " 积分查询 "])
def test_my_points_is_asked_by_anyone_in_a_few_words(text: str) -> None:
    parse = Parse("chitchat", 0.9, (), "rules")
    for sender in (None, D.people["w1"]):
        assert route(parse, text, Situation(sender=sender)) is Route.MY_POINTS
    for chatter in ("积分怎么算的", "超市积分能换鸡蛋吗", "我的积分卡丢了"):
        assert route(parse, chatter, Situation()) is not Route.MY_POINTS


def test_every_rule_has_a_chinese_name_for_the_chat_and_the_admin_page() -> None:
    templates = Templates.load(CONFIG / "templates.yaml")
    assert set(templates.names["points_rule"]) == {r.value for r in Rule}
    renderer = Renderer(templates, lambda: D)
    line = renderer.render("my_point_line", {"day": "12月02日", "rule": "checkin", "points": "+1", "note": ""})
    assert line == "12月02日 报平安 +1 分"
