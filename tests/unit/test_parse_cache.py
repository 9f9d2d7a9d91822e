"""Repeated chatter reaches the model once per version; emoji and stickers never reach it."""

from __future__ import annotations

from bot.nlu.catalog import load_catalog
from bot.nlu.chain import FallbackNlu
from bot.nlu.port import Entity, Parse
from bot.nlu.rules import RulesNlu
from config.settings import CONFIG


class Counting:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def parse(self, text: str) -> Parse:
        self.calls.append(text)
        return Parse("chitchat", 0.9, (), "rasa")

    async def ready(self) -> bool:
        return True


async def test_a_text_is_parsed_once_per_model_version() -> None:
    rules = RulesNlu(load_catalog(CONFIG / "intents"))
    model = Counting()
    nlu = FallbackNlu(model, rules, 0.45)
    for _ in range(3):
        assert (await nlu.parse("收到")).intent == "chitchat"
    assert model.calls == ["收到"] and nlu.cache.hits == 2
    nlu.use(RulesNlu(rules.catalog))  # what activating a new version does (bot.nlu.versions)
    await nlu.parse("收到")
    assert model.calls == ["收到", "收到"]  # the new version reads it afresh


async def test_emoji_and_stickers_never_reach_the_model() -> None:
    model = Counting()
    nlu = FallbackNlu(model, RulesNlu(load_catalog(CONFIG / "intents")), 0.45)
    for text in ("👍👍", "[强][强]", "？？？", "🙏", ""):
        assert (await nlu.parse(text)).intent == "chitchat"
    assert model.calls == []


async def test_spelling_variants_of_one_short_text_share_a_parse_but_a_question_does_not() -> None:
    model = Counting()
    nlu = FallbackNlu(model, RulesNlu(load_catalog(CONFIG / "intents")), 0.45)
    for text in ("收到", "收到！", " 收到!!! ", "收到👍", "收到[强]", "ＯＫ", "ok", "好的~", "好的。"):
        await nlu.parse(text)
    assert model.calls == ["收到", "ＯＫ", "好的~"]
    await nlu.parse("停水了？")
    await nlu.parse("停水了")
    assert model.calls[-2:] == ["停水了？", "停水了"]  # a question is not a report
    assert nlu.cache.figures() == {"hits": 6, "misses": 5, "skipped": 0, "entries": 5}


async def test_a_parse_with_entities_is_reused_only_for_its_own_text() -> None:
    rules = RulesNlu(load_catalog(CONFIG / "intents"))

    class WithEntities(Counting):
        async def parse(self, text: str) -> Parse:
            self.calls.append(text)
            return Parse("report_public_facility", 0.9, (Entity("building", 0, 2, text[:2]),), "rasa")

    model = WithEntities()
    nlu = FallbackNlu(model, rules, 0.45)
    await nlu.parse("3号楼灯坏了")
    await nlu.parse("3号楼灯坏了！")  # same key, but the entity points into the first text
    assert model.calls == ["3号楼灯坏了", "3号楼灯坏了！"]
    assert (await nlu.parse("3号楼灯坏了")).entities[0].value == "3号"
