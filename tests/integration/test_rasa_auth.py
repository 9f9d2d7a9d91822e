"""Rasa's HTTP API is shut with an auth token (issue 18, finding 11). Seen before: our Rasa child
listened on loopback without `--auth-token`, and `DELETE /model` from anyone on the machine unloaded
the model. Here the supervisor starts a stand-in with Rasa's command line and Rasa's token check
(tests/fakes/rasa_server.py, no model needed): the bot's every call (status, parse, model load)
carries the token, a call without it is refused, and external servers get GRIDBOT_NLU_TOKEN."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.nlu.catalog import load_catalog
from bot.nlu.lifecycle import NluConfig, candidate_stack
from bot.nlu.port import NluUnavailable
from bot.nlu.rasa_client import RasaNlu, rasa_of
from bot.nlu.rasa_process import RasaProcess
from config.settings import CONFIG, ROOT, Settings
from wiring.parts import nlu_config

MODEL = Path("/models/active.tar.gz")


@pytest.fixture
def rasa_bin(tmp_path: Path) -> Path:
    """An executable `rasa` that runs the stand-in (the supervisor execs it like the real one)."""
    script = tmp_path / "rasa"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                      "from tests.fakes.rasa_server import serve\nserve(sys.argv[1:])\n")  # fmt: skip
    script.chmod(0o755)
    return script


@pytest.fixture
async def process(rasa_bin: Path, tmp_path: Path) -> AsyncIterator[RasaProcess]:
    child = RasaProcess(rasa_bin, MODEL, 0, tmp_path / "rasa.log")
    await child.start()
    try:
        assert await child.wait_ready(timeout_s=20), (tmp_path / "rasa.log").read_text()
        yield child
    finally:
        await child.stop()


async def test_our_rasa_child_refuses_calls_without_its_token(process: RasaProcess) -> None:
    async with httpx.AsyncClient(base_url=process.url, timeout=5) as anyone:
        assert (await anyone.delete("/model")).status_code == 401
        assert (await anyone.put("/model", json={"model_file": "/tmp/evil.tar.gz"})).status_code == 401
        assert (await anyone.post("/model/parse", json={"text": "x"})).status_code == 401
        assert (await anyone.get("/status", params={"token": "guess"})).status_code == 401
        status = await anyone.get("/status", params={"token": process.auth_token})
        assert status.json()["model_file"] == str(MODEL)  # the model is still loaded

    rasa = RasaNlu(process.url, token=process.auth_token)
    try:
        assert await rasa.ready()
        assert (await rasa.parse("楼下垃圾桶满了好几天没人清")).source == "rasa"
        await rasa.load_model(MODEL)  # PUT /model with the token: 204
    finally:
        await rasa.aclose()

    stranger = RasaNlu(process.url)
    try:
        assert not await stranger.ready()
        with pytest.raises(NluUnavailable) as refused:
            await stranger.parse("x")
        assert "401" in str(refused.value)
    finally:
        await stranger.aclose()


async def test_every_start_has_its_own_token_and_errors_never_show_it(rasa_bin: Path, tmp_path: Path) -> None:
    one = RasaProcess(rasa_bin, MODEL, 0, tmp_path / "one.log")
    two = RasaProcess(rasa_bin, MODEL, 0, tmp_path / "two.log")
    assert one.auth_token != two.auth_token and len(one.auth_token) >= 32
    rasa = RasaNlu("http://127.0.0.1:9", timeout_s=0.5, token=one.auth_token)  # nothing listens there
    try:
        with pytest.raises(NluUnavailable) as down:
            await rasa.parse("x")
        assert one.auth_token not in str(down.value)
    finally:
        await rasa.aclose()


async def test_an_external_rasa_gets_the_configured_token(rasa_bin: Path, tmp_path: Path) -> None:
    external = RasaProcess(rasa_bin, MODEL, 0, tmp_path / "external.log", auth_token="ops-chosen-token")
    await external.start()
    try:
        assert await external.wait_ready(timeout_s=20)
        config = nlu_config(Settings(nlu_url=external.url, nlu_token="ops-chosen-token"))
        assert (config.url, config.token) == (external.url, "ops-chosen-token")
        rasa = rasa_of(f"{external.url},{external.url}", 2.0, config.token)  # a pool: each server has it
        try:
            assert await rasa.ready()
            assert [(await rasa.parse("垃圾没人清")).source for _ in range(2)] == ["rasa", "rasa"]
        finally:
            await rasa.aclose()
    finally:
        await external.stop()


async def test_the_retrain_gates_candidate_server_is_shut_too(rasa_bin: Path, tmp_path: Path) -> None:
    config = NluConfig(mode="rasa", intents=CONFIG / "intents", pipeline="tfidf_svm", model_cache=tmp_path / "cache",
                       rasa_bin=rasa_bin, var_dir=tmp_path, test_data=(), threshold=0.45, timeout_s=10.0)  # fmt: skip
    nlu, stop = await candidate_stack(config, MODEL, load_catalog(CONFIG / "intents"))
    try:
        assert (await nlu.parse("楼下垃圾桶满了好几天没人清")).source == "rasa"
        assert "auth token required" in (tmp_path / "rasa-candidate.log").read_text()
    finally:
        await stop()


async def test_a_token_that_starts_with_a_dash_still_starts_rasa(rasa_bin: Path, tmp_path: Path) -> None:
    """One random urlsafe token in 64 starts with "-": passed as its own argument, Rasa's argument
    parser took it for an option and exited (seen: `nlu eval` failed with "expected one argument")."""
    child = RasaProcess(rasa_bin, MODEL, 0, tmp_path / "rasa.log", auth_token="-Xk3Q_starts-with-a-dash")
    await child.start()
    try:
        assert await child.wait_ready(timeout_s=20), (tmp_path / "rasa.log").read_text()
    finally:
        await child.stop()
