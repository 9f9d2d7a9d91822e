"""The real Rasa server: our client, the supervisor's restart, and the keyword fallback."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from bot.nlu.catalog import load_catalog
from bot.nlu.chain import FallbackNlu
from bot.nlu.rasa_client import RasaNlu
from bot.nlu.rasa_process import RasaProcess
from bot.nlu.rules import RulesNlu
from bot.nlu.training import ensure_model
from config.settings import CONFIG, Settings
from tests.conftest import RASA_TOKEN

SAMPLES = {
    "楼下垃圾桶满了好几天没人清": "report_sanitation",
    "小区门口的路灯坏了": "report_public_facility",
    "楼道里有人给电动车充电，太危险了": "report_fire_safety",
    "谢谢大家，早上好": "chitchat",
}


async def test_rasa_parses_the_taxonomy(rasa_url: str) -> None:
    rasa = RasaNlu(rasa_url, token=RASA_TOKEN)
    try:
        for text, intent in SAMPLES.items():
            parsed = await rasa.parse(text)
            assert (parsed.intent, parsed.source) == (intent, "rasa"), text
            # gridbot's classifier (nlu_components/): softmax confidences, a ranking led by the intent
            assert 0.45 <= parsed.confidence <= 1.0 and parsed.ranking[0] == intent and len(parsed.ranking) >= 3, text
    finally:
        await rasa.aclose()


async def test_dead_rasa_falls_back_to_keyword_rules() -> None:
    rules = RulesNlu(load_catalog(CONFIG / "intents"))
    nlu = FallbackNlu(RasaNlu("http://127.0.0.1:9", timeout_s=0.5), rules, 0.45)
    parsed = await nlu.parse("#12 已处理")
    assert (parsed.intent, parsed.source) == ("worker_resolve", "rules")
    assert [e.value for e in parsed.entities if e.entity == "ticket_id"] == ["#12"]
    assert not await nlu.ready()


@pytest.mark.slow
@pytest.mark.rasa  # its own Rasa server, no fixture
async def test_the_supervisor_restarts_a_killed_rasa(tmp_path: Path) -> None:
    settings = Settings()
    build = await ensure_model(settings.intents, settings.nlu_pipeline, settings.model_cache, settings.rasa_bin)
    process = RasaProcess(settings.rasa_bin, build.model, 0, tmp_path / "rasa.log")
    await process.start()
    try:
        assert await process.wait_ready()
        first_pid = process.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        await asyncio.sleep(1)
        assert await process.wait_ready()
        assert process.restarts == 1 and process.pid != first_pid
        rasa = RasaNlu(process.url, token=process.auth_token)
        assert (await rasa.parse("小区门口的路灯坏了")).intent == "report_public_facility"
        await rasa.aclose()
    finally:
        await process.stop()
    assert process.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)  # stopped means gone
