"""Property-based tests of the parsers that read what outsiders write: any input either parses or
raises the parser's own error, never anything else."""

from __future__ import annotations

import contextlib
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.interpret import Route, Situation, route, understood
from bot.nlu.catalog import IntentSpec, TicketSpec, dump_intent, load_catalog
from bot.nlu.rules import RulesNlu
from bot.render import TemplateError, Templates, mask_personal
from config.directory import GridFileError, checked_directory
from config.policies import parse_duration, parse_policies
from config.settings import CONFIG
from escalation.policy import PolicyError
from tickets.directory import Person, Role

RULES = RulesNlu(load_catalog(CONFIG / "intents"))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
CHINESE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x9FFF), max_size=300)
FEW = settings(max_examples=300, deadline=None)


@FEW
@given(CHINESE)
def test_the_keyword_rules_read_any_text(text: str) -> None:
    parsed = RULES.parse_sync(text)
    assert parsed.intent in RULES.catalog.intents or parsed.intent == "chitchat"
    assert all(0 <= e.start <= e.end <= len(text) and text[e.start : e.end] == e.value for e in parsed.entities)


@FEW
@given(CHINESE)
def test_masking_hides_a_mobile_number_whatever_surrounds_it(text: str) -> None:
    masked = mask_personal(text + " 13812345678")
    assert "13812345678" not in masked and masked.endswith("138****5678")


SEPARATORS = st.sampled_from(["", "", "", " ", "  ", "-", " - ", "\u2014", "\u3000", "\u200b", "\uff0d"])


def _spelled(digits: str, data: st.DataObject) -> str:
    """The digits with any separator between them, each digit ASCII or full-width at random."""
    out = []
    for n, digit in enumerate(digits):
        if n:
            out.append(data.draw(SEPARATORS))
        out.append(chr(ord(digit) + 0xFEE0) if data.draw(st.booleans()) else digit)  # full-width
    return "".join(out)


@FEW
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), CHINESE, st.data())
def test_a_mobile_is_masked_however_it_is_spelled(mobile: str, text: str, data: st.DataObject) -> None:
    masked = mask_personal(f"{text}电话{_spelled(mobile, data)}。")
    assert masked.endswith(f"电话{mobile[:3]}****{mobile[-4:]}。"), masked


@FEW
@given(st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True), st.data())
def test_an_id_number_is_masked_however_it_is_spelled(number: str, data: st.DataObject) -> None:
    masked = mask_personal(f"身份证{_spelled(number, data)}，")
    assert masked == f"身份证{number[:6]}********{number[-4:]}，", masked


ANY_TEXT = st.text(max_size=60)


@settings(max_examples=100, deadline=None)
@given(ANY_TEXT, ANY_TEXT, st.lists(ANY_TEXT, max_size=4), st.dictionaries(ANY_TEXT, st.lists(ANY_TEXT, max_size=3),
       max_size=3), ANY_TEXT, st.booleans())  # fmt: skip
def test_a_dumped_intent_file_holds_exactly_the_fields_it_was_given(
    name: str, description: str, keywords: list[str], synonyms: dict[str, list[str]], department: str, report: bool
) -> None:
    spec = IntentSpec("report_x" if report else "chitchat", name, ("a", "b"), description=description,
                      ticket=TicketSpec(department=department or None) if report else None, keywords=tuple(keywords),
                      synonyms={k: tuple(v) for k, v in synonyms.items()}, extra={"not": description})  # fmt: skip
    data = yaml.safe_load(dump_intent(spec))
    fields = {"intent", "name", "not", "priority", "emergency", "keywords", "regexes", "synonyms", "examples"}
    assert set(data) == fields | ({"description"} if description else set()) | ({"ticket"} if report else set())
    assert (data["name"], data["not"], data["keywords"]) == (name, description, keywords)
    assert data["synonyms"] == synonyms and data.get("description", "") == description
    assert data.get("ticket") == ({"severity": "normal", **({"department": department} if department else {})}
                                  if report else None)  # fmt: skip


@FEW
@given(CHINESE, st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_routing_any_parse_of_any_text_picks_a_handler_or_silence(
    text: str, replying: bool, place: bool, feedback: bool, worker: bool
) -> None:
    parsed = RULES.parse_sync(text)
    sender = Person("w1", "李建国", Role.WORKER, "g1") if worker else None
    situation = Situation(sender, replying, "report_water" if place else None, feedback)
    key: Any = route(parsed, text, situation, RULES.catalog.is_report)
    assert isinstance(key, Route)
    assert isinstance(understood(key, parsed, text, situation), str)


@FEW
@given(CHINESE)
def test_the_emergency_layer_takes_any_text(text: str) -> None:
    found = RULES.emergency(text)
    assert found is None or (found.match in text and RULES.catalog.is_report(found.intent))


@FEW
@given(st.text(max_size=12))
def test_durations_parse_or_explain(value: str) -> None:
    try:
        assert parse_duration(value) >= 0
    except PolicyError as exc:
        assert "duration" in str(exc)


@FEW
@given(JSON)
def test_policy_documents_parse_or_explain(document: Any) -> None:
    with contextlib.suppress(PolicyError, KeyError, TypeError, ValueError):  # the loaders explain these
        parse_policies(document)


@FEW
@given(JSON)
def test_grid_documents_parse_or_explain(document: Any) -> None:
    with contextlib.suppress(GridFileError):
        checked_directory(document)


@FEW
@given(st.text(max_size=400))
def test_template_files_parse_or_explain(text: str) -> None:
    with contextlib.suppress(TemplateError):
        Templates.parse(text)
