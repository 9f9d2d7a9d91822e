"""A local fake of the WeChat Official Account API (access token, customer-service messages, QR codes)
and of the WeCom API (`wecom=True`: gettoken, app messages, appchat, and group robot webhooks, which
need no token and refuse a 21st message within a minute with errcode 45009 as WeCom does): records
every call and fails loudly (errcode + `unexpected`) on any path it does not know."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.http import FakeServer, JsonHandler, multipart

WECOM_SENDS = ("/cgi-bin/message/send", "/cgi-bin/appchat/send")


def passive_text(reply: dict[str, Any]) -> str:
    """The text of a WeCom AI bot's passive reply to a user message, which WeCom takes as a `stream`
    or a `template_card` (never `text`: that is the welcome's); fails loudly on anything else."""
    if reply.get("msgtype") == "stream" and reply["stream"].get("finish") is True:
        return str(reply["stream"]["content"])
    if reply.get("msgtype") == "template_card":
        return str(reply["template_card"]["sub_title_text"])
    raise AssertionError(f"not a passive reply WeCom takes for a user message: {reply}")


class FakeWechat(FakeServer):
    def __init__(self, app_id: str, app_secret: str, wecom: bool = False) -> None:
        self.app_id, self.app_secret, self.wecom = app_id, app_secret, wecom
        self.custom: list[dict[str, Any]] = []  # customer-service messages sent
        self.calls: list[str] = []
        self.unexpected: list[str] = []
        self.failures: deque[dict[str, Any]] = deque()  # errcode bodies for the next custom/send calls
        self.robots: dict[str, list[str]] = {}  # group robot key → texts it posted
        self.robot_refusals: list[str] = []  # keys a post was refused for (over 20 a minute, unknown key)
        self._robot_times: dict[str, list[float]] = {}
        self.uploads: dict[str, tuple[str, bytes]] = {}  # WeCom temporary media: media_id → (filename, bytes)
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def to(self, openid: str) -> list[str]:
        with self._lock:
            return [m["text"]["content"] for m in self.custom
                    if m.get("msgtype", "text") == "text" and openid in (m.get("touser"), m.get("chatid"))]  # fmt: skip

    def files_to(self, target: str) -> list[tuple[str, bytes]]:
        """The files (name, bytes) sent to `target` as WeCom file messages, through their uploaded media."""
        with self._lock:
            media = [m["file"]["media_id"] for m in self.custom
                     if m.get("msgtype") == "file" and target in (m.get("touser"), m.get("chatid"))]  # fmt: skip
            return [self.uploads[i] for i in media]

    def add_robot(self, key: str) -> None:
        with self._lock:
            self.robots[key] = []

    def robot(self, key: str) -> list[str]:
        with self._lock:
            return list(self.robots.get(key, []))

    def wait_to(self, openid: str, contains: str, timeout_s: float = 25) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hits = [t for t in self.to(openid) if contains in t]
            if hits:
                return hits[-1]
            time.sleep(0.1)
        raise AssertionError(f"no customer-service message to {openid} with {contains!r}: {self.to(openid)}")

    def _answer(self, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(path)
            token_path, id_key, secret_key = (
                ("/cgi-bin/gettoken", "corpid", "corpsecret") if self.wecom else ("/cgi-bin/token", "appid", "secret")
            )
            if path == token_path:
                if (query.get(id_key), query.get(secret_key)) != (self.app_id, self.app_secret):
                    return {"errcode": 40125, "errmsg": "invalid secret"}
                return {"errcode": 0, "access_token": "FAKE-TOKEN", "expires_in": 7200}
            if path == "/cgi-bin/webhook/send" and self.wecom:
                return self._robot_post(query.get("key", ""), body)
            if query.get("access_token") != "FAKE-TOKEN":
                return {"errcode": 40001, "errmsg": "invalid credential"}
            sends = (
                ("/cgi-bin/message/send", "/cgi-bin/appchat/send") if self.wecom else ("/cgi-bin/message/custom/send",)
            )
            if path in sends:
                if self.failures:
                    return self.failures.popleft()
                self.custom.append(body)
                return {"errcode": 0, "errmsg": "ok"}
            if path == "/cgi-bin/media/upload" and self.wecom and query.get("type") == "file" and "media" in body:
                filename, data = body["media"]
                media_id = f"MEDIA-{len(self.uploads) + 1}"
                self.uploads[media_id] = (filename, data)
                return {"errcode": 0, "errmsg": "", "type": "file", "media_id": media_id, "created_at": "1380000000"}
            if path == "/cgi-bin/qrcode/create" and not self.wecom:
                scene = body["action_info"]["scene"]["scene_str"]
                return {"ticket": f"TICKET-{scene}", "url": f"http://weixin.qq.com/q/{scene}"}
            self.unexpected.append(path)
            return {"errcode": 404, "errmsg": f"fake: unexpected path {path}"}

    def _robot_post(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        if key not in self.robots:
            self.robot_refusals.append(key)
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        now = time.monotonic()
        recent = [t for t in self._robot_times.get(key, []) if t > now - 60]
        if len(recent) >= 20:
            self.robot_refusals.append(key)
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        if body.get("msgtype") != "text" or len(body["text"]["content"].encode()) > 2048:
            self.unexpected.append(f"robot body {body}")
            return {"errcode": 40008, "errmsg": "invalid message type"}
        self._robot_times[key] = [*recent, now]
        self.robots[key].append(body["text"]["content"])
        return {"errcode": 0, "errmsg": "ok"}

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                kind = self.headers.get("content-type", "")
                raw = self.read_body()
                body = multipart(kind, raw) if "multipart/form-data" in kind else json.loads(raw or b"{}")
                self.reply_json(fake._answer(url.path, dict(parse_qsl(url.query)), body))

            do_GET = do_POST = _serve

        return Handler
