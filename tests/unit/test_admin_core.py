"""The admin web's pure parts: accounts and their lock, jurisdiction, staff actions on a case,
dashboard figures, the policy preview, spreadsheet safety and the directory round trip."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from admin import dashboard, exports
from config.directory import GridFileError, checked_directory, dump_directory, load_directory_file
from config.policies import load_policies
from config.settings import CONFIG
from escalation.preview import preview
from tests.unit.factories import T0, directory, new_ticket
from tickets import transitions
from tickets.accounts import LOCK_FOR, MAX_FAILURES, Account, AccountError, AccountRole, jurisdiction, role_for
from tickets.model import CloseReason, Phase, Refused, TicketState, Tier

BEIJING = timedelta(hours=8)


def account(person: str, role: AccountRole) -> Account:
    return Account("u", person, role, "hash", T0)


def test_five_wrong_passwords_in_a_row_lock_the_account_for_a_while() -> None:
    a = account("oc", AccountRole.COMMUNITY)
    for _ in range(MAX_FAILURES - 1):
        a = a.failed(T0)
        assert not a.locked(T0)
    a = a.failed(T0)
    assert a.locked(T0) and a.locked(T0 + LOCK_FOR - timedelta(seconds=1)) and not a.locked(T0 + LOCK_FOR)
    assert a.succeeded().failures == 0 and a.succeeded().locked_until is None


def test_roles_follow_the_directory_and_officers_see_their_jurisdiction_only() -> None:
    d = directory()
    assert role_for(d, "admin") is AccountRole.ADMIN
    assert role_for(d, "ot") is AccountRole.TOWNSHIP and role_for(d, "oc") is AccountRole.COMMUNITY
    for person in ("w1", "dp", "nobody"):  # a worker, department staff, unknown: no admin-web account
        with pytest.raises(AccountError):
            role_for(d, person)
    assert jurisdiction(d, account("admin", AccountRole.ADMIN)) is None
    assert jurisdiction(d, account("ot", AccountRole.TOWNSHIP)) == {"g1", "g2"}


def test_reassign_hands_the_case_to_someone_serving_its_grid_who_must_accept_it() -> None:
    d, ticket = directory(), transitions.accept(new_ticket(), "w1", T0).ticket
    out = transitions.reassign(ticket, "admin", "oc", d, T0 + timedelta(seconds=1))  # the community officer above
    assert out.ticket.assignee == "oc" and out.ticket.state is TicketState.REPORTED
    assert out.ticket.clock.phase is Phase.ACCEPT and out.ticket.clock.token == ticket.clock.token + 1
    assert {(n.template, n.person_id) for n in out.notices if n.person_id} == {
        ("worker_new_ticket", "oc"), ("worker_unassigned", "w1")}  # fmt: skip
    with pytest.raises(Refused) as refused:
        transitions.reassign(out.ticket, "admin", "oc", d, T0)
    assert refused.value.reason == "same_worker"


@pytest.mark.parametrize("person", ["w2", "dp", "admin", "张阿姨", "nobody"])
def test_reassign_refuses_anyone_who_does_not_serve_the_cases_grid(person: str) -> None:
    """w2 works another grid, dp is department staff (the case has not reached the department), admin runs
    the system: none of them could act on a g1 case, so it would be stuck with them."""
    d, ticket = directory(), new_ticket()
    with pytest.raises(Refused) as refused:
        transitions.reassign(ticket, "admin", person, d, T0)
    assert refused.value.reason == "not_a_worker" and refused.value.params["grid"] == "g1"
    assert person not in {p.id for p in d.assignable(ticket.grid, ticket.type, ticket.tier)}  # nor offered


def test_the_reassign_candidates_are_who_serves_the_grid_nearest_first() -> None:
    d, ticket = directory(), new_ticket()
    assert [p.id for p in d.assignable("g1", ticket.type, Tier.GRID)] == ["w1", "oc", "ot", "od"]
    at_department = [p.id for p in d.assignable("g1", ticket.type, Tier.DEPARTMENT)]
    assert at_department == ["w1", "oc", "ot", "od", "dp"]
    moved = replace(ticket, tier=Tier.DEPARTMENT)
    assert transitions.reassign(moved, "admin", "dp", d, T0).ticket.assignee == "dp"
    assert d.assignable("gone", ticket.type, Tier.GRID) == []


def test_escalate_climbs_one_tier_and_pings_it_and_closing_needs_a_reason() -> None:
    d, ticket = directory(), new_ticket()
    out = transitions.escalate(ticket, "admin", "需要协调", d, T0)
    assert out.ticket.tier is Tier.COMMUNITY and out.events[0].detail["whistle"] is False
    assert [n.person_id for n in out.notices if n.person_id] == ["oc"]
    with pytest.raises(Refused):
        transitions.close_by_staff(ticket, "admin", " ", T0)
    closed = transitions.close_by_staff(ticket, "admin", "重复工单", T0).ticket
    assert closed.state is TicketState.CLOSED and closed.close_reason is CloseReason.BY_STAFF
    with pytest.raises(Refused):
        transitions.close_by_staff(closed, "admin", "again", T0)


def test_dashboard_counts_overdue_by_tier_and_the_daily_trend() -> None:
    d = directory()
    fresh = new_ticket(now=T0)
    late = replace(new_ticket(now=T0 - timedelta(hours=1)), id=8)  # accept in 4 s: long overdue
    now = T0 + timedelta(seconds=1)
    standing = dashboard.standing([fresh, late], now)
    assert standing["open"] == 2 and standing["overdue"] == 1
    assert standing["by_tier"][0] == {"tier": "grid", "open": 2, "overdue": 1}
    period = dashboard.Period(dashboard.local_day(T0) - timedelta(days=1), dashboard.local_day(T0))
    trend = dashboard.trend(period, [fresh, late], {})
    assert trend["created"] == [0, 2] and trend["closed"] == [0, 0]
    rows = dashboard.grid_table(d, {"g1"}, [fresh, late], {}, [fresh, late], now)
    assert [r["id"] for r in rows] == ["d", "t", "c", "g1"] and rows[-1]["overdue"] == 1


def test_preview_of_a_streetlamp_report_on_friday_night_waits_for_monday() -> None:
    book = load_policies(CONFIG / "policies" / "default.yaml")
    friday_22 = datetime(2026, 12, 4, 22, 0, tzinfo=UTC) - BEIJING
    steps = preview(book, "report_public_facility", friday_22)
    accept = [s for s in steps if s.phase is Phase.ACCEPT]
    deadline = next(s for s in accept if s.action == "deadline")
    assert (deadline.at + BEIJING).strftime("%a %H:%M") == "Mon 12:30"  # 4 working hours from Mon 08:30
    assert [(s.action, (s.at + BEIJING).strftime("%a %H:%M")) for s in accept[:2]] == [
        ("nag", "Mon 10:30"), ("nag", "Mon 12:06")]  # fmt: skip
    escalate = next(s for s in accept if s.action == "escalate")
    assert escalate.at == deadline.at and escalate.tier is Tier.COMMUNITY
    assert all((s.at + BEIJING).weekday() < 5 for s in accept)


def test_spreadsheet_cells_never_start_a_formula() -> None:
    rows = [["=1+1", "+SUM(A1)", "-2", "@cmd", "正常文字", 12]]
    data = list(csv.reader(io.StringIO(exports.to_csv(["a"] * 6, rows).decode("utf-8-sig"))))
    assert data[1] == ["'=1+1", "'+SUM(A1)", "'-2", "'@cmd", "正常文字", "12"]


def test_the_directory_round_trips_through_yaml_and_excel() -> None:
    d = load_directory_file(CONFIG / "grids.demo.yaml")
    again = checked_directory(dump_directory(d))
    assert dict(again.nodes) == dict(d.nodes) and dict(again.people) == dict(d.people)
    assert again.departments == d.departments
    from_sheet = exports.directory_from_xlsx(exports.directory_xlsx(d))
    assert dict(from_sheet.nodes) == dict(d.nodes) and from_sheet.departments == d.departments
    with pytest.raises(GridFileError):
        checked_directory({"district": {"id": "x"}})
    with pytest.raises(exports.SheetError):
        exports.directory_from_xlsx(b"not a workbook")
