"""The shipped intent files: the default taxonomy, enough annotated examples, and a valid generated project."""

from __future__ import annotations

import re

import yaml

from bot.nlu.catalog import ENTITY_NAMES, load_catalog
from bot.nlu.generate import domain_yml, files_hash, jieba_dict, nlu_yml, project_files
from config.settings import CONFIG
from tests.unit.test_config import TAXONOMY_INTENTS

CATALOG = load_catalog(CONFIG / "intents")


def test_the_default_catalog_is_the_taxonomy_plus_other() -> None:
    assert set(CATALOG.intents) == TAXONOMY_INTENTS | {"other"}
    assert set(CATALOG.reports()) == {i for i in TAXONOMY_INTENTS if i.startswith("report_")}
    assert CATALOG.display_name("report_water") == "供排水"


def test_enough_distinct_examples_per_intent() -> None:
    for spec in CATALOG.intents.values():
        floor = 60 if spec.is_report else 40
        assert len(set(spec.examples)) >= floor, spec.intent


def test_entities_are_annotated_and_known() -> None:
    annotated = {m for s in CATALOG.intents.values() for e in s.examples for m in re.findall(r"\]\((\w+)\)", e)}
    assert annotated == set(ENTITY_NAMES)


def test_the_generated_project_lists_every_intent_and_entity() -> None:
    domain = yaml.safe_load(domain_yml(CATALOG))
    assert set(domain["intents"]) == set(CATALOG.intents)
    assert set(domain["entities"]) == set(ENTITY_NAMES)
    nlu = yaml.safe_load(nlu_yml(CATALOG))
    intents = {b["intent"]: b["examples"].count("\n- ") + 1 for b in nlu["nlu"] if "intent" in b}
    assert intents == {i: len(s.examples) for i, s in CATALOG.intents.items()}
    assert {b["regex"] for b in nlu["nlu"] if "regex" in b} >= {"ticket_id", "phone", "building"}
    assert "消防通道 3000 n" in jieba_dict(CATALOG)


def test_the_version_hash_changes_with_the_data_and_the_pipeline() -> None:
    base = files_hash(project_files(CATALOG, "logreg"))
    assert base == files_hash(project_files(CATALOG, "logreg"))
    assert base != files_hash(project_files(CATALOG, "words"))
