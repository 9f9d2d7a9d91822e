import time
from pathlib import Path

import pytest
import yaml

from bot.faq import load_faq
from bot.nlu.catalog import load_catalog
from bot.nlu.rules import RulesNlu, extract_entities
from bot.render import Renderer, TemplateError, Templates
from config.directory import GridFileError, checked_directory, load_directory_file, parse_directory
from config.policies import load_policies, parse_duration, parse_policies
from config.settings import CONFIG, Settings, secure_cookies
from escalation.policy import PolicyError
from tickets.directory import Role
from tickets.model import Tier

REPORT_TYPES = (
    "sanitation illegal_parking public_facility water power_gas noise dispute fire_safety "
    "public_security property illegal_construction street_order greenery public_health livelihood"
)
OTHER_INTENTS = (
    "consult chitchat ask_status cancel_report worker_accept worker_progress worker_resolve "
    "escalate_request confirm_resolved reject_resolution"
)
TAXONOMY_INTENTS = {f"report_{t}" for t in REPORT_TYPES.split()} | set(OTHER_INTENTS.split())


def test_demo_grid_has_the_promised_shape() -> None:
    d = load_directory_file(CONFIG / "grids.demo.yaml")
    tiers = [n.tier for n in d.nodes.values()]
    assert [tiers.count(t) for t in (Tier.DISTRICT, Tier.TOWNSHIP, Tier.COMMUNITY, Tier.GRID)] == [1, 2, 4, 8]
    for grid in (n for n in d.nodes.values() if n.tier is Tier.GRID):
        assert d.workers_of(grid.id), grid.id
        for tier in (Tier.COMMUNITY, Tier.TOWNSHIP, Tier.DISTRICT, Tier.DEPARTMENT):
            assert d.officers_for(grid.id, tier), (grid.id, tier)
    assert [x.id for x in d.departments] == ["chengguan", "shuiwu", "zhujian"]  # 派单 has somewhere to go
    assert any(p.role is Role.ADMIN for p in d.people.values())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "district"),
        ({"district": {"id": "d", "name": "D", "townships": [{"id": "t", "name": "T", "communities": [
            {"id": "c", "name": "C", "grids": [{"id": "g", "name": "G"}]}]}]}}, "chat_id"),
        ({"district": {"id": "d", "name": "D", "officers": [{"id": "x", "name": "a"}, {"id": "x", "name": "b"}]}},
         "twice"),
    ],
)  # fmt: skip
def test_bad_grid_files_say_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises((GridFileError, ValueError), match=message):
        parse_directory(data)


def test_a_large_roster_is_checked_in_linear_time() -> None:
    """20,000 workers in one grid: the duplicate-id check counted each id in the whole list (15–35 s here)."""
    workers = [{"id": f"w{i}", "name": f"网格员{i}"} for i in range(20_000)]
    grid = {"id": "g", "name": "G", "chat_id": "g", "workers": workers}
    document = {"district": {"id": "d", "name": "D", "townships": [
        {"id": "t", "name": "T", "communities": [{"id": "c", "name": "C", "grids": [grid]}]}]}}  # fmt: skip
    started = time.monotonic()
    assert len(checked_directory(document).people) == 20_000
    assert time.monotonic() - started < 5
    with pytest.raises(GridFileError, match="w7"):
        checked_directory({**document, "admins": [{"id": "w7", "name": "重复"}]})


def test_admin_cookies_are_secure_by_default_except_in_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRIDBOT_DEMO", "GRIDBOT_ADMIN_SECURE_COOKIES"):
        monkeypatch.delenv(name, raising=False)
    assert secure_cookies(Settings()) is True
    assert secure_cookies(Settings(demo=True)) is False
    monkeypatch.setenv("GRIDBOT_ADMIN_SECURE_COOKIES", "false")  # a closed network without TLS, on purpose
    assert secure_cookies(Settings()) is False
    monkeypatch.setenv("GRIDBOT_ADMIN_SECURE_COOKIES", "true")
    assert secure_cookies(Settings(demo=True)) is True


def test_policy_files_load_and_validate() -> None:
    fast = load_policies(CONFIG / "policies" / "fast.yaml").default
    assert (fast.accept_s, fast.resolve_s, fast.nag_at) == (4, 8, (0.5,))
    assert [s.ack_s for s in fast.ladder] == [4, 4, 4, 4]
    assert (fast.location_s, fast.feedback_s) == (3, 6)
    book = load_policies(CONFIG / "policies" / "default.yaml")
    assert book.for_type("report_fire_safety").accept_s < book.default.accept_s
    assert (book.default.location_s, book.default.feedback_s) == (600, 86400)
    assert book.for_type("consult").resolve_s == 86400
    assert parse_duration("2h") == 7200 and parse_duration(90) == 90


def test_the_shipped_faq_loads_and_answers_a_common_question() -> None:
    faq = load_faq(CONFIG / "faq.yaml")
    assert len(faq.entries) >= 5
    entry = faq.match("请问城乡居民医保在哪里交")
    assert entry is not None and entry.id == "social-insurance"


@pytest.mark.parametrize(
    ("override", "message"),
    [({"accept": "soon"}, "duration"), ({"nag_at": [1.5]}, "fractions"), ({"ladder": []}, "ladder"),
     ({"ladder": [{"tier": "grid", "ack": "1h"}]}, "above the grid"), ({"feedback": "0s"}, "feedback"),
     ({"ask_location": "later"}, "duration")],
)  # fmt: skip
def test_bad_policies_are_rejected(override: dict[str, object], message: str) -> None:
    base = {"accept": "1h", "resolve": "1d", "nag_at": [0.5], "ladder": [{"tier": "community", "ack": "1h"}]}
    with pytest.raises(PolicyError, match=message):
        parse_policies({"default": {**base, **override}})


def test_templates_render_every_key_with_names() -> None:
    templates = Templates.load(CONFIG / "templates.yaml")
    d = load_directory_file(CONFIG / "grids.demo.yaml")
    renderer = Renderer(templates, lambda: d)
    params = {"ticket_id": 3, "type": "report_water", "location": "5号楼", "reporter": "张阿姨",
              "worker": "w-yg-1", "actor": "w-yg-1", "tier": "community", "state": "accepted", "grid": "yg-1",
              "phase": "accept", "text": "漏水", "note": "n", "rating": 5, "lines": ""}  # fmt: skip
    for key in templates.messages:
        assert "{" not in renderer.render(key, params), key
    assert "李建国" in renderer.render("ticket_accepted", params)
    assert "供排水" in renderer.render("ticket_opened", params)


def test_a_template_with_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("messages:\n  x: '{nope}'\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="nope"):
        Templates.load(bad)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{text:>5000000}", "format spec"),  # a megabyte post from a 15-character template
        ("{ticket_id:,}", "format spec"),
        ("{text:{ticket_id}}", "format spec"),  # a format built from data
        ("{text!r}", "conversion"),
        ("{ticket_id!s}", "conversion"),
        ("{text.__class__}", "attribute or index"),
        ("{text[0]}", "attribute or index"),
        ("#{}", "empty placeholder"),
        ("{0}", "unknown"),
        ("工单 #{ticket_id}" + "啊" * 1000, "longer than 1000"),
    ],
)
def test_templates_are_plain_text_with_bare_known_placeholders(template: str, message: str) -> None:
    """Finding 17: `{text:>5000000}` was accepted by the template editor."""
    with pytest.raises(TemplateError, match=message):
        Templates.parse(yaml.safe_dump({"messages": {"ticket_opened": template}}, allow_unicode=True))
    assert Templates.parse("messages:\n  ticket_opened: '{{字面的括号}} #{ticket_id}'\n").messages


def test_keyword_rules_cover_every_intent_and_parse() -> None:
    rules = RulesNlu(load_catalog(CONFIG / "intents"))
    assert {r.intent for r in rules.rules} <= TAXONOMY_INTENTS | {"other"}
    assert rules.parse_sync("楼道里有人给电动车充电").intent == "report_fire_safety"
    assert rules.parse_sync("今天天气不错").intent == "chitchat"


def test_structured_entities() -> None:
    found = {(e.entity, e.value) for e in extract_entities("#12 3号楼2单元502 电话13812345678")}
    assert {("ticket_id", "#12"), ("building", "3号楼"), ("unit", "2单元"), ("phone", "13812345678")} <= found


def test_keyword_rules_give_a_report_hint_even_when_a_follow_up_wins() -> None:
    rules = RulesNlu(load_catalog(CONFIG / "intents"))
    parsed = rules.parse_sync("6号楼电梯又坏了")
    assert parsed.intent == "reject_resolution"
    assert parsed.report_hint == "report_property"
    assert rules.parse_sync("#12 已处理").report_hint is None


def test_every_text_the_code_says_has_words_and_the_file_holds_no_unused_key() -> None:
    from bot.render import Templates
    from config.settings import CONFIG
    from tickets.model import EventKind
    from tickets.texts import Text

    templates = Templates.load(CONFIG / "templates.yaml")
    assert set(templates.messages) == {t.value for t in Text}
    assert {k.value for k in EventKind} <= set(templates.names["event"])  # the timeline shows every kind by name
