"""The admin web's pure parts: accounts and their lock, jurisdiction, staff actions on a case,
dashboard figures, the policy preview, spreadsheet safety and the directory round trip."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from admin import dashboard, exports, pages_ops
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


SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def _rezip(xlsx: bytes, edits: dict[str, Callable[[bytes], bytes]], extra: dict[str, bytes] | None = None) -> bytes:
    """The workbook with some parts rewritten and others added (what a hostile upload can do)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, edits.get(info.filename, lambda b: b)(src.read(info.filename)))
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


def _demo_xlsx() -> bytes:
    return exports.directory_xlsx(load_directory_file(CONFIG / "grids.demo.yaml"))


def test_a_small_workbook_that_unpacks_into_a_huge_shared_string_is_refused_before_parsing() -> None:
    """Finding 17: a 205 KB .xlsx with a 200 MB shared string cost +350 MB and a 3.8 s stall."""
    strings = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>'
    strings += b"A" * (40 * 1024 * 1024) + b"</t></si></sst>"
    override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SHARED_STRINGS_TYPE}"/></Types>'.encode()
    bomb = _rezip(_demo_xlsx(), {"[Content_Types].xml": lambda b: b.replace(b"</Types>", override)},
                  {"xl/sharedStrings.xml": strings})  # fmt: skip
    assert len(bomb) < 205 * 1024
    with pytest.raises(exports.SheetError, match="32 MB"):
        exports.directory_from_xlsx(bomb)


def test_workbooks_past_the_unpacked_size_or_part_count_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "MAX_UNPACKED", 1024 * 1024, raising=False)
    with pytest.raises(exports.SheetError, match="解压后超过 1 MB"):
        exports.directory_from_xlsx(_rezip(_demo_xlsx(), {}, {"xl/media/junk.bin": bytes(2 * 1024 * 1024)}))
    parts = {f"xl/media/{i}.bin": b"" for i in range(500)}  # a workbook has about a dozen
    with pytest.raises(exports.SheetError, match="部件"):
        exports.directory_from_xlsx(_rezip(_demo_xlsx(), {}, parts))


def test_a_cell_longer_than_the_limit_is_refused_with_its_sheet_and_row() -> None:
    book = load_workbook(io.BytesIO(_demo_xlsx()))
    book["人员"].append(["w-long", "长" * 2001, "worker", "yg-1"])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(exports.SheetError, match=f"人员.*第 {book['人员'].max_row} 行.*2000 个字符"):
        exports.directory_from_xlsx(out.getvalue())


def test_a_sheet_that_claims_every_column_and_row_is_read_only_as_far_as_it_matters() -> None:
    """The dimension says A1:XFD1048576 and one cell sits in the last row: reading pads every row to the
    sheet's claimed width unless told the columns it needs (200,000 rows × 16,384 cells took minutes)."""
    far = b'<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'

    def claim_everything(sheet: bytes) -> bytes:
        sheet = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', sheet)
        return sheet.replace(b"</sheetData>", far)

    started = time.monotonic()
    with pytest.raises(exports.SheetError, match="超过 200000 行"):
        exports.directory_from_xlsx(_rezip(_demo_xlsx(), {"xl/worksheets/sheet2.xml": claim_everything}))
    assert time.monotonic() - started < 5


def test_an_uploaded_grid_yaml_may_not_repeat_subtrees_through_aliases() -> None:
    """Ten aliases per level, four levels deep: 10 KB of YAML standing for 10,000 copies of every grid."""
    bomb = (
        "g: &g [{id: g, name: G, chat_id: g, workers: [{id: w, name: W}]}]\n"
        "c: &c [{id: c, name: C, grids: [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]}]\n"
        "t: &t [{id: t, name: T, communities: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]}]\n"
        "district: {id: d, name: D, townships: [*t, *t, *t, *t, *t, *t, *t, *t, *t, *t]}\n"
    )
    with pytest.raises(ValueError, match="别名"):
        pages_ops.yaml_document(bomb.encode())
    shipped = CONFIG / "grids.demo.yaml"
    assert checked_directory(pages_ops.yaml_document(shipped.read_bytes())).nodes == load_directory_file(shipped).nodes
