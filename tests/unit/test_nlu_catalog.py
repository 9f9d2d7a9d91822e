"""Intent files: clear errors naming the file, admin edits validated against the whole catalog."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bot.nlu.catalog import IntentError, IntentFiles, dump_intent, load_catalog, parse_intent
from bot.nlu.chain import FallbackNlu
from bot.nlu.port import NluUnavailable, Parse
from bot.nlu.rules import RulesNlu
from config.settings import CONFIG

GOOD = """intent: report_pigeons
name: 鸽子扰民
ticket: {severity: normal, department: chengguan}
keywords: [鸽子]
examples: |
  - 楼顶有人养了好多鸽子 天天掉毛
  - [3号楼](building)顶上的鸽棚臭死了
  - 鸽子屎落得阳台上到处都是
  - 有人在天台搭鸽棚养鸽子
  - 楼上养鸽子太吵了 一大早咕咕叫
"""


@pytest.fixture
def intents(tmp_path: Path) -> Path:
    target = tmp_path / "intents"
    shutil.copytree(CONFIG / "intents", target)
    return target


def test_an_admin_adds_an_intent_and_its_ticket_mapping(intents: Path) -> None:
    spec = IntentFiles(intents).write("report_pigeons", GOOD)
    catalog = load_catalog(intents)
    assert spec.examples[1] == "[3号楼](building)顶上的鸽棚臭死了"
    assert catalog.is_report("report_pigeons") and catalog.display_name("report_pigeons") == "鸽子扰民"
    assert catalog.departments()["report_pigeons"] == "chengguan"
    assert RulesNlu(catalog).parse_sync("鸽子又来了").intent == "report_pigeons"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("intent: report_pigeons\nname: x\nexamples: [a, b]\n", "at least 5 examples"),
        ("intent: report_pigeons\nexamples: |\n  - a\n", "`name`"),
        (GOOD.replace("(building)", "(floor)"), "unknown entity 'floor'"),
        (GOOD.replace("keywords: [鸽子]", "regexes: ['(']"), "does not compile"),
        (GOOD.replace("severity: normal", "severity: huge"), "ticket.severity"),
        (GOOD + "colour: red\n", "unknown field"),
        ("intent: [oops\n", "not valid YAML"),
        (GOOD.replace("intent: report_pigeons", "intent: report_doves"), "file name must be report_doves.yaml"),
    ],
)
def test_invalid_edits_name_the_file_and_problem_and_write_nothing(intents: Path, text: str, problem: str) -> None:
    with pytest.raises(IntentError, match=r"report_pigeons\.yaml") as caught:
        IntentFiles(intents).write("report_pigeons", text)
    assert problem in str(caught.value)
    assert not (intents / "report_pigeons.yaml").exists()


INJECTED = "闲聊\nticket: {severity: urgent}"


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("name", GOOD.replace("name: 鸽子扰民", 'name: "鸽子扰民\\nticket: {severity: urgent}"')),
        ("name", GOOD.replace("name: 鸽子扰民", 'name: "鸽子扰民\\u2028priority: 1"')),
        ("name", GOOD.replace("name: 鸽子扰民", 'name: "鸽子\\r扰民"')),
        ("description", GOOD.replace("keywords:", 'description: "a\\x85b"\nkeywords:')),
        ("keywords", GOOD.replace("keywords: [鸽子]", 'keywords: ["鸽子\\nticket: x"]')),
        ("synonyms", GOOD.replace("keywords: [鸽子]", 'keywords: [鸽子]\nsynonyms: {"鸽\\n子": [鸽]}')),
        ("synonyms.鸽子", GOOD.replace("keywords: [鸽子]", 'keywords: [鸽子]\nsynonyms: {鸽子: ["鸽\\t子"]}')),
        ("examples", GOOD.split("examples: |")[0] + 'examples: ["养鸽子\\nticket: {severity: urgent}", a, b, c, d]\n'),
        ("ticket.department", GOOD.replace("department: chengguan", 'department: "chengguan\\nseverity: urgent"')),
        ("not", GOOD.replace("keywords:", 'not: "a\\nb"\nkeywords:')),
    ],
)
def test_every_free_text_an_admin_edits_is_one_line(intents: Path, field: str, text: str) -> None:
    with pytest.raises(IntentError, match=r"report_pigeons\.yaml") as caught:
        IntentFiles(intents).write("report_pigeons", text)
    assert f"`{field}` must be one line" in str(caught.value) and "只能是一行文字" in str(caught.value)
    assert not (intents / "report_pigeons.yaml").exists()


def test_a_display_name_cannot_inject_fields_into_the_dumped_file(intents: Path) -> None:
    chitchat = load_catalog(intents).intents["chitchat"]
    text = dump_intent(replace(chitchat, name=INJECTED, description="说明\nticket: true", keywords=("x\nticket: 1",)))
    data = yaml.safe_load(text)
    assert "ticket" not in data and data["name"] == INJECTED  # a value stays a value
    with pytest.raises(IntentError, match="`name` must be one line"):
        parse_intent(data, "chitchat.yaml")  # and is refused, with the reason, before anything is written


def test_the_shipped_intents_survive_a_dump_and_load_unchanged() -> None:
    for spec in load_catalog(CONFIG / "intents").intents.values():
        assert parse_intent(yaml.safe_load(dump_intent(spec)), f"{spec.intent}.yaml") == spec


def test_an_example_may_not_belong_to_two_intents(intents: Path) -> None:
    text = GOOD.replace("有人在天台搭鸽棚养鸽子", "谢谢网格员")
    (intents / "chitchat.yaml").write_text(
        (intents / "chitchat.yaml").read_text(encoding="utf-8") + "  - 谢谢网格员\n", encoding="utf-8"
    )
    with pytest.raises(IntentError, match="also an example of 'chitchat'"):
        IntentFiles(intents).write("report_pigeons", text)


def test_builtin_intents_cannot_be_removed_but_reports_can(intents: Path) -> None:
    files = IntentFiles(intents)
    with pytest.raises(IntentError, match="handlers need 'worker_accept'"):
        files.delete("worker_accept")
    files.delete("report_greenery")
    assert "report_greenery" not in load_catalog(intents).intents


def test_a_broken_file_on_disk_is_reported_with_its_name(intents: Path) -> None:
    (intents / "report_water.yaml").write_text("intent: report_water\nname: 供排水\n", encoding="utf-8")
    with pytest.raises(IntentError, match=r"report_water.yaml: `examples` is required"):
        load_catalog(intents)


class Dead:
    async def parse(self, text: str) -> Parse:
        raise NluUnavailable("down")

    async def ready(self) -> bool:
        return False


class Fixed:
    def __init__(self, intent: str) -> None:
        self.intent = intent

    async def parse(self, text: str) -> Parse:
        return Parse(self.intent, 0.9, source="rasa")

    async def ready(self) -> bool:
        return True


@pytest.mark.parametrize("text", ["3号楼着火了！！", "楼道里好大的煤气泄漏的味道", "电梯困人了 快来"])
async def test_emergency_phrases_are_urgent_reports_even_when_the_model_says_chitchat(text: str) -> None:
    rules = RulesNlu(load_catalog(CONFIG / "intents"))
    for primary in (Fixed("chitchat"), Dead()):
        parsed = await FallbackNlu(primary, rules, 0.45).parse(text)
        assert parsed.urgent and parsed.source == "emergency", (text, primary)
        assert parsed.intent.startswith("report_")


async def test_an_emergency_word_in_a_worker_follow_up_is_not_a_new_report() -> None:
    rules = RulesNlu(load_catalog(CONFIG / "intents"))
    parsed = await FallbackNlu(Fixed("worker_resolve"), rules, 0.45).parse("#3 着火点已扑灭，已处理")
    assert parsed.intent == "worker_resolve" and not parsed.urgent


@pytest.mark.parametrize("text", ["", " ", "😀😀😀", "a" * 2000, "\x00\x07控制字符\u202e", "Hello 你好 مرحبا"])
async def test_odd_input_parses_without_error_when_rasa_is_dead(text: str) -> None:
    parsed = await FallbackNlu(Dead(), RulesNlu(load_catalog(CONFIG / "intents")), 0.45).parse(text)
    assert parsed.source in ("rules", "emergency")
