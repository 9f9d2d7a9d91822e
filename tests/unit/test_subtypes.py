"""Subtypes with their own deadlines, category codes and 立案/结案条件 (issue 20)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.nlu.catalog import IntentError, dump_intent, load_catalog, parse_intent
from escalation import planner
from tests.inproc import InProcessBot
from tests.unit.factories import FAST
from tickets import subtypes, transitions
from tickets.subtypes import Subtype, SubtypeError

INTENTS = Path(__file__).parents[2] / "config" / "intents"
LAMP = Subtype("streetlight", "路灯不亮", "0101", ("路灯",), "1wd", "路灯不亮", "恢复照明")
COVER = Subtype("manhole_cover", "井盖缺失", "0102", ("井盖",), "2h")


def test_deadlines_in_working_hours_working_days_or_round_the_clock() -> None:
    assert subtypes.parse_deadline("4wh") == (4 * 3600, True)
    assert subtypes.parse_deadline("1wd") == (9 * 3600, True)  # a working day of 08:30-17:30
    assert subtypes.parse_deadline("2h") == (7200, False)
    with pytest.raises(SubtypeError):
        subtypes.parse_deadline("soon")
    quiet = replace(FAST, quiet=(1260, 450))
    lamp = subtypes.apply(quiet, LAMP)
    assert (lamp.resolve_s, lamp.resolve_clock, lamp.name) == (9 * 3600, "working", "fast/streetlight")
    cover = subtypes.apply(quiet, COVER)
    assert (cover.resolve_s, cover.resolve_clock) == (7200, "round")  # around the clock, nobody waits
    assert (cover.accept_s, cover.quiet, cover.working) == (quiet.accept_s, quiet.quiet, quiet.working)  # resolve only
    assert subtypes.apply(replace(quiet, subtype_deadlines=False), COVER).resolve_s == quiet.resolve_s
    assert subtypes.match((LAMP, COVER), "小区门口井盖没了") is COVER and subtypes.match((LAMP,), "楼道灯") is None


def test_the_shipped_catalog_has_codes_and_subtypes_that_survive_an_edit() -> None:
    catalog = load_catalog(INTENTS)
    facility = catalog.ticket("report_public_facility")
    assert facility.code and [s.id for s in facility.subtypes] == ["streetlight", "manhole_cover"]
    assert all(catalog.ticket(i).code for i in catalog.reports())
    spec = catalog.intents["report_public_facility"]
    assert parse_intent(yaml.safe_load(dump_intent(spec)), "report_public_facility.yaml").ticket == spec.ticket
    bad = yaml.safe_load(dump_intent(spec))
    bad["ticket"]["subtypes"][0]["deadline"] = "tomorrow"
    with pytest.raises(IntentError, match="not a deadline"):
        parse_intent(bad, "report_public_facility.yaml")
    bad["ticket"]["subtypes"][0] = {"id": "Bad Id"}
    with pytest.raises(IntentError, match="id must be"):
        parse_intent(bad, "report_public_facility.yaml")


def test_a_subtypes_clock_counts_the_resolve_phase_only() -> None:
    """Review: a 2 h subtype made every phase of the case round the clock (night pings to accept it)."""
    opened = transitions.open_ticket(ticket_id=1, ticket_type="report_public_facility", grid="g1", chat_id="chat-1",
                                     reporter="张阿姨", assignee="w1", location="东门", text="井盖没了",
                                     policy=subtypes.apply(replace(FAST, quiet=(1260, 450), accept_s=3600), COVER),
                                     now=datetime(2026, 11, 20, 14, 0, tzinfo=UTC))  # 22:00 Beijing  # fmt: skip
    assert planner.calendar_of(opened.ticket).quiet == (1260, 450)  # accepting waits for the morning
    taken = transitions.accept(opened.ticket, "w1", datetime(2026, 11, 20, 14, 0, tzinfo=UTC)).ticket
    assert planner.phase_end(taken) == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # resolving does not


def test_a_missing_manhole_cover_runs_two_hours_around_the_clock_and_the_worker_reads_the_conditions(
    tmp_path: Path,
) -> None:
    bot = InProcessBot(tmp_path)
    try:
        t = bot.say("yg-1", "张阿姨", "4号楼门口的井盖没了 晚上看不见")["replies"][0]["ticket_id"]
        ticket = bot.ticket(t)
        assert ticket["subtype"] == {"id": "manhole_cover", "name": "井盖缺失", "code": "0102"}
        assert ticket["deadlines"]["policy"].endswith("/manhole_cover")
        assert any("立案条件" in m["text"] and "结案条件" in m["text"] for m in bot.inbox("w-yg-1"))
        bot.say("yg-1", "w-yg-1", f"#{t} 收到")
        accepted = bot.ticket(t)
        due = accepted["deadlines"]["due_at"]
        taken = next(e["at"] for e in accepted["events"] if e["kind"] == "accepted")
        assert datetime.fromisoformat(due) - datetime.fromisoformat(taken) == timedelta(hours=2)
    finally:
        bot.close()
