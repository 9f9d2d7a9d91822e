"""Subtypes with their own deadlines, category codes and 立案/结案条件 (issue 20)."""

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.nlu.catalog import IntentError, dump_intent, load_catalog, parse_intent
from tests.inproc import InProcessBot
from tests.unit.factories import FAST
from tickets import subtypes
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
    assert (lamp.resolve_s, lamp.working, lamp.quiet, lamp.name) == (
        9 * 3600,
        subtypes.WORKDAY,
        (1260, 450),
        "fast/streetlight",
    )
    cover = subtypes.apply(quiet, COVER)
    assert (cover.resolve_s, cover.working, cover.quiet) == (7200, None, None)  # around the clock, nobody waits
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
