"""The fuzzed bot: one real `run_bot.py serve` process per database (SQLite, then PostgreSQL, which
refuses more: NUL in text, integers past BIGINT, strings past their column), keyword-rules NLU,
Telegram, the Official Account and WeCom all on against local fakes, an admin account. Shared by the
package's modules, so each database's bot starts once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from wechatpy.enterprise.crypto import PrpCrypto

from config.settings import CONFIG
from tests.conftest import PG_ADMIN, BotProcess
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wechat_api import FakeWechat

T = TypeVar("T")
TG_TOKEN, TG_SECRET = "123456:FUZZ-token", "fuzz-secret"
OA_TOKEN, OA_APPID, OA_SECRET = "oaToken1", "wx00000000000fuzz0", "oa-secret"
WC_CORP, WC_TOKEN, WC_SECRET, WC_AGENT = "wwfuzz0000000000", "wcToken1", "wc-secret", "1000002"
WC_AES = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
CRYPTO = PrpCrypto(base64.b64decode(WC_AES + "="))
ADMIN_USER, ADMIN_PASSWORD = "admin", "fuzz-admin-1"
COUNTED = ("messages", "tickets", "ticket_events")
_nonce = itertools.count(1)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')


def oa_signed() -> dict[str, str]:
    """Query parameters of an Official Account callback with a valid signature (the body is not signed)."""
    ts, nonce = str(int(time.time())), f"n{next(_nonce)}"
    return {
        "timestamp": ts,
        "nonce": nonce,
        "signature": hashlib.sha1("".join(sorted([OA_TOKEN, ts, nonce])).encode()).hexdigest(),
    }


def wecom_post(http: httpx.Client, path: str, inner: str, receive_id: str, as_json: bool) -> httpx.Response:
    sealed = CRYPTO.encrypt(inner, receive_id)
    encrypt = sealed.decode() if isinstance(sealed, bytes) else str(sealed)
    ts, nonce = str(int(time.time())), f"n{next(_nonce)}"
    signature = hashlib.sha1("".join(sorted([WC_TOKEN, ts, nonce, encrypt])).encode()).hexdigest()
    params = {"timestamp": ts, "nonce": nonce, "msg_signature": signature}
    if as_json:
        return http.post(path, params=params, json={"encrypt": encrypt})
    body = f"<xml><ToUserName><![CDATA[{WC_CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return http.post(path, params=params, content=body)


def bot_env(tmp: Path, database_url: str, fakes: tuple[FakeTelegram, FakeWechat, FakeWechat]) -> dict[str, str]:
    """Every channel on; the files the admin web and the API may write are copies (a hostile request that
    happened to be valid must not edit the shipped config)."""
    telegram, oa, wecom = fakes
    shutil.copytree(CONFIG / "intents", tmp / "intents")
    shutil.copy(CONFIG / "policies" / "default.yaml", tmp / "policies.yaml")
    shutil.copy(CONFIG / "templates.yaml", tmp / "templates.yaml")
    return {
        "GRIDBOT_DATABASE_URL": database_url, "GRIDBOT_NLU": "rules",
        "GRIDBOT_VAR_DIR": str(tmp / "var"), "GRIDBOT_DEMO": "true",
        "GRIDBOT_INTENTS": str(tmp / "intents"), "GRIDBOT_POLICIES": str(tmp / "policies.yaml"),
        "GRIDBOT_TEMPLATES": str(tmp / "templates.yaml"),
        "GRIDBOT_ADMIN_USER": ADMIN_USER, "GRIDBOT_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "GRIDBOT_TELEGRAM_TOKEN": TG_TOKEN, "GRIDBOT_TELEGRAM_API_BASE": telegram.base,
        "GRIDBOT_TELEGRAM_SECRET": TG_SECRET,
        "GRIDBOT_WECHAT_APPID": OA_APPID, "GRIDBOT_WECHAT_TOKEN": OA_TOKEN,
        "GRIDBOT_WECHAT_APPSECRET": OA_SECRET, "GRIDBOT_WECHAT_API_BASE": oa.base,
        "GRIDBOT_WECOM_CORP_ID": WC_CORP, "GRIDBOT_WECOM_TOKEN": WC_TOKEN, "GRIDBOT_WECOM_AES_KEY": WC_AES,
        "GRIDBOT_WECOM_SECRET": WC_SECRET, "GRIDBOT_WECOM_AGENT_ID": WC_AGENT,
        "GRIDBOT_WECOM_API_BASE": wecom.base,
    }  # fmt: skip


class Loop:
    """An event loop in a thread of its own, for the few async calls of these sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class FuzzBot:
    """The bot process, an HTTP client, and the row counts that tell whether a request wrote anything."""

    def __init__(self, process: BotProcess, env: dict[str, str], database: str) -> None:
        self.process, self.env, self.database = process, env, database
        self.url = process.url
        self.http = httpx.Client(base_url=process.url, timeout=60)
        self._loop = Loop()
        self._pg: asyncpg.Connection | None = None
        if database.startswith("postgresql"):
            self._pg = self._loop.run(asyncpg.connect(database))

    def rows(self) -> list[int]:
        if self._pg is not None:
            pg = self._pg
            return [int(self._loop.run(pg.fetchval(f"SELECT count(*) FROM {t}"))) for t in COUNTED]
        with sqlite3.connect(self.database.removeprefix("sqlite:///")) as db:
            return [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED]

    def check(self, send: Any) -> httpx.Response:
        """Send one request: never a 5xx, and a refused one (4xx) writes nothing."""
        before = self.rows()
        response: httpx.Response = send()
        assert response.status_code < 500, (response.status_code, response.text[:500])
        if response.status_code >= 400:
            assert self.rows() == before, "a refused request wrote something"
        return response

    def admin(self) -> tuple[httpx.Client, str]:
        """A client signed in to the admin web, and its session's CSRF token."""
        client = httpx.Client(base_url=self.url, timeout=60, headers={"Accept": "text/html"})
        token = _LOGIN.search(client.get("/admin/login").text)
        assert token
        form = {"login_token": token.group(1), "username": ADMIN_USER, "password": ADMIN_PASSWORD}
        assert client.post("/admin/login", data=form).status_code == 303
        csrf = _CSRF.search(client.get("/admin/tickets").text)
        assert csrf
        return client, csrf.group(1)

    def rss_kb(self) -> int:
        assert self.process.proc is not None
        status = Path(f"/proc/{self.process.proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

    def close(self) -> None:
        if self._pg is not None:
            self._loop.run(self._pg.close())
        self._loop.close()
        self.http.close()


@pytest.fixture(scope="package")
def fakes() -> Iterator[tuple[FakeTelegram, FakeWechat, FakeWechat]]:
    servers = (
        FakeTelegram(TG_TOKEN).start(),
        FakeWechat(OA_APPID, OA_SECRET).start(),
        FakeWechat(WC_CORP, WC_SECRET, wecom=True).start(),
    )
    yield servers
    for server in servers:
        server.stop()


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="package", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bot(
    request: pytest.FixtureRequest,
    fakes: tuple[FakeTelegram, FakeWechat, FakeWechat],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FuzzBot]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    name = f"gridbot_fuzz_{uuid.uuid4().hex[:10]}"
    if request.param == "postgres":
        loop = Loop()
        try:
            loop.run(_pg(f'CREATE DATABASE "{name}"'))
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.fail(f"PostgreSQL is needed at {PG_ADMIN}: {exc!r}")
        database = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    else:
        database = f"sqlite:///{tmp / 'fuzz.db'}"
    env = bot_env(tmp, database, fakes)
    process = BotProcess(env, tmp / "bot.log")
    process.start()
    fuzz = FuzzBot(process, env, database)
    yield fuzz
    fuzz.close()
    process.stop()
    if request.param == "postgres":
        loop.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        loop.close()
