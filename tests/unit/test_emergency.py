"""The emergency layer: every emergency of our corpus is taken, in every conversation state; no
false alarm pages the district (config/corpus/groupchat.csv: `emergency:` and `false alarm` notes)."""

from __future__ import annotations

import csv

import pytest

from bot.interpret import Route, Situation, route
from bot.nlu.catalog import load_catalog
from bot.nlu.chain import FallbackNlu
from bot.nlu.emergency import EmergencyDetector
from bot.nlu.rules import RulesNlu
from config.settings import CONFIG
from tickets.directory import Person, Role

ROWS = list(csv.DictReader((CONFIG / "corpus" / "groupchat.csv").open(encoding="utf-8")))
EMERGENCIES = [r["text"] for r in ROWS if "emergency:" in r["note"]]
FALSE_ALARMS = [r["text"] for r in ROWS if "false alarm" in r["note"]]
DETECTOR = EmergencyDetector()


def test_the_list_is_big_enough_to_mean_something() -> None:
    assert len(EMERGENCIES) >= 100 and len(FALSE_ALARMS) >= 100


def test_every_emergency_of_the_corpus_is_found() -> None:
    missed = [t for t in EMERGENCIES if DETECTOR.detect(t) is None]
    assert missed == []


def test_no_false_alarm_of_the_corpus_pages() -> None:
    paged = [(t, found.match) for t in FALSE_ALARMS if (found := DETECTOR.detect(t))]
    assert paged == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [("厨房里一股很浓的煤气味", "gas"), ("9栋电梯卡在两层中间 里头有个小孩在哭", "trapped"),
     ("楼下花坛边有个大妈倒地上不动了", "collapse"), ("超市门口有人拿着菜刀追人", "violence"),
     ("地下室进水了 都快淹到配电箱了", "water_electric"), ("12号楼冒黑烟了 好像是厨房", "fire"),
     ("俺孙子放学没回家 找不着了", "missing"), ("有个人站在楼顶边上 好像要跳", "jump")],
)  # fmt: skip
def test_kinds_of_danger(text: str, kind: str) -> None:
    found = DETECTOR.detect(text)
    assert found is not None and found.kind == kind


@pytest.mark.parametrize(
    "text",
    ["不是着火 是楼下烧烤", "火已经灭了 大家放心", "明天上午消防演习 会放烟雾", "万一着火了打哪个电话",
     "热得要着火了", "新闻说外省有个小区燃气爆炸了", "上次着火那家后来赔了没", "电梯里没关人 是维保在调试",
     "【温馨提示】冬季用气注意通风 谨防煤气中毒", "我气得冒烟😤"],
)  # fmt: skip
def test_not_present_here_and_now(text: str) -> None:
    assert DETECTOR.detect(text) is None


@pytest.mark.parametrize(
    "situation",
    [Situation(), Situation(awaiting_location="report_public_facility"), Situation(awaiting_feedback=True),
     Situation(replies_to_ticket=True)],
    ids=["idle", "awaiting_location", "awaiting_feedback", "reply_to_post"],
)  # fmt: skip
async def test_a_resident_s_emergency_is_a_report_in_every_state(situation: Situation) -> None:
    catalog = load_catalog(CONFIG / "intents")
    rules = RulesNlu(catalog)
    stack = FallbackNlu(rules, rules, 0.0)
    for text in EMERGENCIES[:40]:
        parsed = await stack.parse(text)
        assert parsed.urgent and parsed.source == "emergency", text
        assert route(parsed, text, situation, catalog.is_report) is Route.REPORT, text


async def test_a_worker_s_follow_up_with_a_danger_word_stays_a_follow_up() -> None:
    catalog = load_catalog(CONFIG / "intents")
    rules = RulesNlu(catalog)
    worker = Person("w1", "李建国", Role.WORKER, "g1")
    parsed = await FallbackNlu(rules, rules, 0.0).parse("#3 燃气公司的人到了 正在排查 煤气味还很大")
    assert parsed.urgent is False  # about a named case: no new emergency
    assert route(parsed, "#3 燃气公司的人到了 正在排查 煤气味还很大", Situation(worker), catalog.is_report) in (
        Route.WORKER_PROGRESS,
        Route.WORKER_NOTE,
    )
