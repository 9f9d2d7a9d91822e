"""Shared fixtures: real PostgreSQL, real Redis, the real Rasa model, and a real bot process.

A service the tests need that is missing makes them fail, never skip: set GRIDBOT_TEST_PG /
GRIDBOT_TEST_REDIS to point elsewhere than the local defaults.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from bot.nlu.rasa_process import RasaProcess, free_port
from bot.nlu.training import ensure_model
from config.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("GRIDBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("GRIDBOT_TEST_REDIS", "redis://127.0.0.1:6379/0")
API_TOKEN = "test-token"
RASA_TOKEN = "test-rasa-token"  # the session Rasa's --auth-token; bots started here send it (GRIDBOT_NLU_TOKEN)


# The fixtures that start or need each service, directly or (admin_bot) by starting a bot that needs it.
# bot_factory starts `run_bot.py serve`, whose NLU is Rasa unless GRIDBOT_NLU=rules: even with
# GRIDBOT_NLU_URL it trains (or finds cached) the model at start-up, so it needs the Rasa environment.
SERVICE_FIXTURES = {
    "rasa": {"rasa_url", "bot_factory", "admin_bot"},
    "postgres": {"pg_url", "fresh_pg", "admin_bot"},
    "redis": {"redis"},
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the services its fixtures (their whole closure) need, so that
    `-m "not rasa"`, `-m "not postgres"`, `-m "not redis"` run what works without that service. A test
    that reaches a service otherwise (getfixturevalue, its own client) carries the marker itself."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in SERVICE_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion in its own thread (sync fixtures may sit inside a running loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _pg(sql: str, url: str = PG_ADMIN) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session."""
    name = f"gridbot_test_{uuid.uuid4().hex[:10]}"
    try:
        run_sync(_pg(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is needed at {PG_ADMIN}: {exc!r}")
    yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    run_sync(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_pg(pg_url: str) -> str:
    """An empty schema per test: drop everything the previous test created."""
    run_sync(_pg("DROP SCHEMA public CASCADE; CREATE SCHEMA public;", pg_url))
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}"
    return str(request.getfixturevalue("fresh_pg"))


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS)
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(f"Redis is needed at {REDIS}: {exc!r}")
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def rasa_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """One real Rasa server with the trained default model for the whole session."""
    settings = Settings()
    if not settings.rasa_bin.exists():
        pytest.fail(f"{settings.rasa_bin} missing: run `make setup` (the Rasa tests need it)")
    build = await ensure_model(settings.intents, settings.nlu_pipeline, settings.model_cache, settings.rasa_bin)
    process = RasaProcess(settings.rasa_bin, build.model, 0, tmp_path_factory.mktemp("rasa") / "rasa.log", RASA_TOKEN)
    await process.start()
    if not await process.wait_ready():
        await process.stop()
        pytest.fail(f"Rasa did not become ready; see {process.log_file}")
    yield process.url
    await process.stop()


class BotProcess:
    """`python run_bot.py serve` as a real child process, talking real HTTP."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "GRIDBOT_NLU_TOKEN": RASA_TOKEN, **env, "GRIDBOT_PORT": str(self.port),
                    "GRIDBOT_API_TOKEN": API_TOKEN}  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "run_bot.py"), "serve"], cwd=ROOT, env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bot exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"bot not healthy in {timeout_s}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def bot_factory(tmp_path: Path) -> Iterator[type[BotProcess] | object]:
    started: list[BotProcess] = []

    def make(**env: str) -> BotProcess:
        bot = BotProcess({"GRIDBOT_VAR_DIR": str(tmp_path / "var"), **env}, tmp_path / f"bot{len(started)}.log")
        started.append(bot)
        return bot

    yield make
    for bot in started:
        bot.stop()
