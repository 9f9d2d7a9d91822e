"""Every route of the app against hostile input, on SQLite and on PostgreSQL.

The routes are enumerated from the app itself (`run_bot.running` builds it in this process with the
bot's settings), so a new route is covered without editing this file. Each route gets: a chunked body
past its limit (413, and the rest is never read), NUL bytes, integers past BIGINT, bodies in UTF-16,
GBK and invalid UTF-8, deeply nested JSON and XML, and non-ASCII credentials, in its path parameters,
its query and its body (JSON, a form, a multipart upload, XML). The answer is never a 5xx and a refused
request writes no row. Every request carries every credential (the API token, a chat token, the
Telegram secret, an Official Account signature, a signed-in admin with its CSRF token), so the input
gets past the gates to the code behind them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.routing import Mount

from admin.web import BODY_LIMITS as ADMIN_BODY_LIMITS
from bot.app import BODY_LIMITS, CSP, DOCS_CSP, DOCS_PATHS, MAX_BODY
from config.settings import Settings
from run_bot import running
from tests.conftest import API_TOKEN, run_sync
from tests.fuzz.conftest import TG_SECRET, FuzzBot, oa_signed

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
LIMITS = {**BODY_LIMITS, **ADMIN_BODY_LIMITS}
HUGE, HUGE_FLOAT = 10**30, 1e21
NUL = "a\x00b"
SAMPLE = {"chat_id": "yg-1", "person_id": "w-yg-1", "ticket_id": "1", "message_id": "1", "bulletin_id": "1",
          "intent": "fuzz_probe", "version": "fuzz-version", "name": "0" * 32 + ".png", "fmt": "csv",
          "path": "chat.js", "push_id": "1"}  # fmt: skip
# Names the raw routes read from their forms and webhook bodies (the models' fields are added from the app).
FIELDS = ("csrf", "username", "password", "person_id", "op", "action", "argument", "note", "at", "type", "month",
          "name", "report", "examples", "keywords", "synonyms", "description", "yaml", "next", "text", "sender",
          "chat_id", "client_id", "reply_to", "after", "days", "page", "ticket_id", "encrypt", "update_id",
          "grid", "person", "item", "points")  # fmt: skip
QUERY = ("after", "limit", "days", "page", "state", "type", "chat_id", "status", "day", "since", "node", "tier",
         "next", "target", "train", "name", "report", "echostr", "q", "month", "scope", "ticket")  # fmt: skip
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')
XML = ("<xml><ToUserName>gh_fuzz</ToUserName><FromUserName>oFuzz{v}</FromUserName><CreateTime>{n}</CreateTime>"
       "<MsgType>text</MsgType><Content>3号楼路灯坏了{v}</Content><MsgId>{n}</MsgId></xml>")  # fmt: skip


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template: /api/v1/tickets/{ticket_id}
    queries: tuple[str, ...]
    fields: tuple[str, ...]  # of its body model, if it has one
    reads_body: bool  # a body parameter, or the raw request (webhooks, the admin's forms, the photo upload)

    def url(self, value: Callable[[str], str]) -> str:
        return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: value(m.group(1)), self.path)

    @property
    def limit(self) -> int:
        return LIMITS.get(self.path, MAX_BODY)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _route(method: str, path: str, route: APIRoute) -> Route:
    dependant = route.dependant
    fields: list[str] = []
    for param in dependant.body_params:
        model = param.field_info.annotation
        fields += list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    reads = method in BODY_METHODS and bool(dependant.body_params or dependant.request_param_name)
    return Route(method, path, tuple(q.name for q in dependant.query_params), tuple(fields), reads)


def app_routes(env: dict[str, str], tmp: Path) -> list[Route]:
    """Every (method, path) the bot's app serves, built in this process with the bot's own settings."""
    values = {k.removeprefix("GRIDBOT_").lower(): v for k, v in env.items()}
    settings = Settings(**{**values, "database_url": f"sqlite:///{tmp / 'routes.db'}", "var_dir": str(tmp / "var")})

    async def collect() -> list[Route]:
        found: list[Route] = []
        async with running(settings) as app:
            for context in iter_route_contexts(app.routes):
                route = context.original_route
                if isinstance(route, Mount):
                    found.append(Route("GET", f"{route.path}/{{path}}", (), (), False))
                for method in sorted((context.methods or set()) - {"HEAD"}):
                    found.append(_route(method, str(context.path), route) if isinstance(route, APIRoute)
                                 else Route(method, str(context.path), (), (), False))  # fmt: skip
        return sorted(found, key=lambda r: r.path == "/admin/logout")  # logging out last keeps the session

    return list(run_sync(collect()))


@pytest.fixture(scope="module")
def routes(bot: FuzzBot, tmp_path_factory: pytest.TempPathFactory) -> list[Route]:
    return app_routes(bot.env, tmp_path_factory.mktemp("routes"))


@dataclass
class Attack:
    """One hostile request: where it goes and what it carries."""

    label: str
    url: str
    params: dict[str, str]
    content: bytes | Iterator[bytes] | None = None
    content_type: str = ""
    headers: dict[str, Any] | None = None


class Hostile:
    """The hostile requests for a route, with every credential the bot knows about attached."""

    def __init__(self, bot: FuzzBot) -> None:
        self.bot = bot
        self.admin, self.csrf = bot.admin()
        resident = f"张阿姨{uuid.uuid4().hex[:6]}"  # a sender of its own: its own upload quota
        token = bot.http.post("/chat/api/session", json={"chat_id": "yg-1", "sender": resident}).json()["token"]
        self.headers = {"Authorization": f"Bearer {API_TOKEN}", "X-Chat-Token": token, "X-CSRF-Token": self.csrf,
                        "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}  # fmt: skip
        self.login_token = ""  # the login form's own token: a hostile login gets to the password check
        self.send(Route("GET", "/admin/login", (), (), False), Attack("login form", "/admin/login", {}))
        assert self.login_token

    def send(self, route: Route, attack: Attack) -> httpx.Response:
        headers = {**self.headers, **(attack.headers or {})}
        if attack.content_type:
            headers["Content-Type"] = attack.content_type
        params = {**oa_signed(), **attack.params}
        response = self.admin.request(route.method, attack.url, params=params, content=attack.content, headers=headers)
        if login := _LOGIN.search(response.text):  # each login page sets a new token (and its cookie)
            self.login_token = login.group(1)
        return response

    def run(self, routes: list[Route], attacks: Callable[[Route], Iterator[Attack]]) -> list[str]:
        """Every attack on every route; what went wrong, one line each."""
        failures = []
        for route in routes:
            for attack in attacks(route):
                before = self.bot.rows()
                try:
                    response = self.send(route, attack)
                except httpx.TransportError as exc:  # the server died or dropped the connection: a crash
                    failures.append(f"{route} [{attack.label}] {attack.url} → {exc!r}")
                    continue
                wrote = response.status_code >= 400 and self.bot.rows() != before
                if response.status_code >= 500 or wrote:
                    what = "wrote rows although refused" if wrote else response.text[:160]
                    failures.append(f"{route} [{attack.label}] {attack.url} → {response.status_code}: {what}")
        return failures

    def bodies(self, route: Route, value: Callable[[str], Any], label: str) -> Iterator[Attack]:
        """The route's body as JSON, a form and a multipart upload, every field set by `value`."""
        if route.method not in BODY_METHODS:
            return
        url = route.url(lambda name: SAMPLE.get(name, "x"))
        names = dict.fromkeys([*route.fields, *FIELDS])
        sink = {name: value(name) for name in names}
        sender = {"id": 1, "is_bot": False, "first_name": value("name")}
        sink |= {"attachments": [{"kind": "location", "lat": 30.1, "lng": 120.2, "label": value("label")},
                                 {"kind": "image", "url": f"/chat/media/{value('url')}"}],
                 "message": {"message_id": value("message_id"), "date": 1, "text": value("text"),
                             "chat": {"id": value("id"), "type": "group"}, "from": sender}}  # fmt: skip
        yield Attack(f"{label} json", url, {}, json.dumps(sink, ensure_ascii=False).encode(), "application/json")
        form = {name: str(value(name)) for name in names} | {"csrf": self.csrf, "login_token": self.login_token}
        encoded = httpx.Request("POST", "/", data=form)
        yield Attack(f"{label} form", url, {}, encoded.read(), encoded.headers["Content-Type"])
        upload = httpx.Request("POST", "/", data=form, files={"file": ("grids.yaml", str(value("file")).encode())})
        yield Attack(f"{label} multipart", url, {}, upload.read(), upload.headers["Content-Type"])


@pytest.fixture
def hostile(bot: FuzzBot) -> Iterator[Hostile]:
    attacker = Hostile(bot)
    yield attacker
    attacker.admin.close()


UPLOAD_HEAD = b'--fuzz\r\nContent-Disposition: form-data; name="file"; filename="grids.yaml"\r\n\r\n'


def chunked(size: int, block: bytes = b"a" * 65536, head: bytes = b"") -> Iterator[bytes]:
    """`size` bytes in 64 KB chunks, sent without a Content-Length (Transfer-Encoding: chunked)."""
    if head:
        yield head
    sent = len(head)
    while sent < size:
        yield block
        sent += len(block)


def test_the_enumeration_finds_every_kind_of_route(routes: list[Route]) -> None:
    """The attacks below reach as far as the enumeration does: it must see the API, the web chat, the admin
    web, every webhook and the static files."""
    paths = {r.path for r in routes}
    for expected in ("/api/v1/chats/{chat_id}/messages", "/chat/api/media", "/chat/media/{name}", "/admin/login",
                     "/admin/directory/import", "/telegram/webhook", "/wechat/oa", "/wecom/aibot", "/wecom/app",
                     "/static/{path}", "/healthz", "/metrics"):  # fmt: skip
        assert expected in paths
    assert len(routes) >= 70
    assert all(r.reads_body for r in routes if r.method == "POST" and r.path.startswith(("/admin/", "/wecom/")))


def test_every_answer_carries_the_security_headers(routes: list[Route], hostile: Hostile) -> None:
    """Pages, JSON, files, redirects and refusals alike: the policy (the API docs have their own), no
    framing, no sniffing, no referrer to other sites."""
    missing = []
    for route in routes:
        response = hostile.send(route, Attack("plain", route.url(lambda name: SAMPLE.get(name, "x")), {}))
        expected = {"content-security-policy": DOCS_CSP if route.path in DOCS_PATHS else CSP,
                    "x-frame-options": "DENY", "x-content-type-options": "nosniff",
                    "referrer-policy": "same-origin"}  # fmt: skip
        wrong = {k: response.headers.get(k) for k, v in expected.items() if response.headers.get(k) != v}
        if wrong:
            missing.append(f"{route} → {response.status_code}: {wrong}")
    assert not missing, "\n".join(missing)


def test_every_route_refuses_a_chunked_body_past_its_limit(bot: FuzzBot, routes: list[Route], hostile: Hostile) -> None:
    """No Content-Length: the body is counted as it arrives and refused (413) when it passes the route's
    limit; routes that read no body answer as usual."""
    wrong = []
    for route in routes:
        url = route.url(lambda name: SAMPLE.get(name, "x"))
        size = route.limit + 256 * 1024
        if route.path == "/chat/api/media":
            attack = Attack("chunked", url, {}, chunked(size), "image/png")
        else:  # a file in a form: the admin's forms read it, the other routes read any body
            attack = Attack("chunked", url, {}, chunked(size, head=UPLOAD_HEAD), "multipart/form-data; boundary=fuzz")
        before = bot.rows()
        response = hostile.send(route, attack)
        if response.status_code != 413 and (route.reads_body or response.status_code >= 500):
            wrong.append(f"{route} → {response.status_code}: {response.text[:120]}")
        elif response.status_code >= 400 and bot.rows() != before:
            wrong.append(f"{route} → {response.status_code} but wrote rows")
    assert not wrong, "\n".join(wrong)


def test_chunked_bodies_keep_memory_flat(bot: FuzzBot) -> None:
    """64 MB chunked, without credentials, to the routes the review named: 413 each, and the process
    holds none of it (before the fix each was read whole, then answered 401)."""
    targets = {"/chat/api/messages": 413, "/api/v1/chats/yg-1/messages": 413, "/wecom/aibot": 413,
               "/telegram/webhook": 403}  # Telegram's secret is checked before the body is read  # fmt: skip
    bot.http.get("/healthz")
    before = bot.rss_kb()
    for path, status in targets.items():
        response = bot.http.post(path, content=chunked(64 * 1024 * 1024), headers={"Content-Type": "application/json"})
        assert response.status_code == status, (path, response.status_code, response.text[:200])
    grown_mb = (bot.rss_kb() - before) / 1024
    assert grown_mb < 24, f"the bot's memory grew by {grown_mb:.0f} MB"


def test_nul_bytes_anywhere(routes: list[Route], hostile: Hostile) -> None:
    def attacks(route: Route) -> Iterator[Attack]:
        yield Attack("path", route.url(lambda _: "%00"), {})
        yield Attack("query", route.url(lambda name: SAMPLE.get(name, "x")), dict.fromkeys(QUERY, NUL))
        yield from hostile.bodies(route, lambda name: NUL if name != "reply_to" else 1, "nul")
        xml = XML.format(v="\x00", n=1).encode()
        yield Attack("nul xml", route.url(lambda name: SAMPLE.get(name, "x")), {}, xml, "text/xml")

    failures = hostile.run(routes, attacks)
    assert not failures, "\n".join(failures)


def test_integers_past_bigint_anywhere(routes: list[Route], hostile: Hostile) -> None:
    def attacks(route: Route) -> Iterator[Attack]:
        for huge in (str(HUGE), "1e21", "-" + str(HUGE)):
            yield Attack(f"path {huge[:4]}", route.url(lambda _: huge), {})  # noqa: B023 - used at once
            yield Attack(f"query {huge[:4]}", route.url(lambda n: SAMPLE.get(n, "x")), dict.fromkeys(QUERY, huge))
        yield from hostile.bodies(route, lambda _: HUGE, "huge int")
        yield from hostile.bodies(route, lambda _: HUGE_FLOAT, "huge float")
        xml = XML.format(v="", n=HUGE).encode()
        yield Attack("huge xml", route.url(lambda name: SAMPLE.get(name, "x")), {}, xml, "text/xml")

    failures = hostile.run(routes, attacks)
    assert not failures, "\n".join(failures)


def test_wrong_encodings_anywhere(routes: list[Route], hostile: Hostile) -> None:
    text = {"sender": "张阿姨", "text": "3号楼路灯坏了", "username": "管理员", "csrf": hostile.csrf}
    as_json = json.dumps(text, ensure_ascii=False)
    xml = XML.format(v="", n=7)
    form = "&".join(f"{k}={v}" for k, v in text.items())
    bodies = {
        "json utf-16": (as_json.encode("utf-16"), "application/json"),
        "json gbk": (as_json.encode("gbk"), "application/json"),
        "json invalid utf-8": (as_json.encode() + b"\xff\xfe\xc3", "application/json"),
        "xml utf-16": (xml.encode("utf-16"), "text/xml"),
        "xml gbk": (('<?xml version="1.0" encoding="GBK"?>' + xml).encode("gbk"), "text/xml"),
        "xml invalid utf-8": (xml.encode().replace(b"3", b"\xff\xfe"), "text/xml"),
        "form gbk": (form.encode("gbk"), "application/x-www-form-urlencoded"),
        "form invalid utf-8": (form.encode() + b"&x=\xff\xfe", "application/x-www-form-urlencoded"),
        "multipart without boundary": (b"--x\r\n\xff\xfe", "multipart/form-data"),
        "multipart broken": (b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff", "multipart/form-data; boundary=x"),
    }

    def attacks(route: Route) -> Iterator[Attack]:
        url = route.url(lambda name: SAMPLE.get(name, "x"))
        yield Attack("path invalid utf-8", route.url(lambda _: "%ff%fe%c3"), {})
        yield Attack("query gbk", f"{url}?{'&'.join(f'{q}=%D5%C5%B0%A2' for q in QUERY)}", {})
        if route.method in BODY_METHODS:
            for label, (content, kind) in bodies.items():
                yield Attack(label, url, {}, content, kind)

    failures = hostile.run(routes, attacks)
    assert not failures, "\n".join(failures)


def test_deep_nesting_anywhere(routes: list[Route], hostile: Hostile) -> None:
    bodies = {
        "json array": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        "json object": (b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "application/json"),
        "json in a field": (b'{"update_id": 1, "message": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", "application/json"),
        "xml": (b"<xml>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</xml>", "text/xml"),
    }

    def attacks(route: Route) -> Iterator[Attack]:
        if route.method in BODY_METHODS:
            for label, (content, kind) in bodies.items():
                yield Attack(label, route.url(lambda name: SAMPLE.get(name, "x")), {}, content, kind)

    failures = hostile.run(routes, attacks)
    assert not failures, "\n".join(failures)


def test_non_ascii_credentials_anywhere(routes: list[Route], hostile: Hostile) -> None:
    strange = {"X-Chat-Token": "abc.令牌".encode(), "Authorization": "Bearer 令牌".encode(),
               "X-Telegram-Bot-Api-Secret-Token": "密钥".encode(), "X-CSRF-Token": "é".encode("latin-1"),
               "X-Request-Id": "请求".encode()}  # fmt: skip

    def attacks(route: Route) -> Iterator[Attack]:
        yield Attack("headers", route.url(lambda name: SAMPLE.get(name, "x")), {}, headers=strange)

    failures = hostile.run(routes, attacks)
    assert not failures, "\n".join(failures)


URL_TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("\x00令牌"), max_size=40)
HOSTILE_TEXT = URL_TEXT | st.text(alphabet=st.sampled_from("\x00\ud800\udfffa令"), max_size=8)  # lone surrogates
HOSTILE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | HOSTILE_TEXT,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | HOSTILE_TEXT, inner, max_size=6)
    ),
    max_leaves=20,
)
SEGMENT = st.sampled_from(["1", "0", "-1", str(HUGE), "1e21", "%00", "%ff%fe", "..%2F..", "%E4%BB%A4", "x" * 300])
KINDS = ("application/json", "text/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
         "image/png", "text/plain; charset=gbk", "")  # fmt: skip


def encoded(value: Any, encoding: str) -> bytes:
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    return text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_route_takes_anything(routes: list[Route], hostile: Hostile, data: st.DataObject) -> None:
    """Random exploration on top of the sweeps above: any route, any path segment, any query, any body in
    any encoding and content type."""
    route = data.draw(st.sampled_from(routes), label="route")
    url = route.url(lambda _: data.draw(SEGMENT))
    query = data.draw(st.dictionaries(st.sampled_from(QUERY), URL_TEXT | SEGMENT, max_size=3), label="query")
    as_text = st.builds(encoded, HOSTILE_JSON, st.sampled_from(["utf-8", "utf-16", "gbk"]))
    body = data.draw(st.binary(max_size=3000) | as_text, label="body")
    kind = data.draw(st.sampled_from(KINDS), label="content type")
    attack = Attack("random", url, query, body if route.method in BODY_METHODS else None, kind)
    failures = hostile.run([route], lambda _: iter([attack]))
    assert not failures, "\n".join(failures)
