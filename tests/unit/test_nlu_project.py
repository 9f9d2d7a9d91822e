"""The Rasa project covers the taxonomy exactly, with enough annotated examples per intent."""

from __future__ import annotations

import re

import yaml

from bot.nlu.training import PROJECT
from tests.unit.test_config import TAXONOMY_INTENTS

ENTITIES = {"location", "building", "unit", "room", "ticket_id", "phone", "time"}


def examples() -> dict[str, list[str]]:
    data = yaml.safe_load((PROJECT / "data" / "nlu.yml").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for block in data["nlu"]:
        if "intent" in block:
            lines = [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
            out.setdefault(block["intent"], []).extend(lines)
    return out


def test_domain_lists_exactly_the_taxonomy() -> None:
    domain = yaml.safe_load((PROJECT / "domain.yml").read_text(encoding="utf-8"))
    assert set(domain["intents"]) == TAXONOMY_INTENTS
    assert set(domain["entities"]) == ENTITIES


def test_every_intent_has_at_least_20_distinct_examples() -> None:
    found = examples()
    assert set(found) == TAXONOMY_INTENTS
    for intent, lines in found.items():
        assert len(set(lines)) >= 20, intent


def test_entities_are_annotated_and_known() -> None:
    annotated = [m for lines in examples().values() for line in lines for m in re.findall(r"\]\((\w+)\)", line)]
    assert set(annotated) == ENTITIES
