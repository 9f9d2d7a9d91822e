"""A local fake of the Telegram Bot API for tests: answers the methods the bot may call, records
every call, and fails loudly (error reply + `unexpected`) on anything else. `fail(method, …)`
makes the next calls of a method fail, to test retries and refusals; `outage(hang_s, fail_s)`
makes sendMessage hang (no answer until the hang ends, then a 502) and then fail with 502s, as a
platform API in trouble does (bench/faults.py). `delivered` lists what really got through."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict, deque
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http import FakeServer, JsonHandler, multipart

BOT_USER = {"id": 999, "is_bot": True, "first_name": "网格通", "username": "gridbot_test_bot"}


class FakeTelegram(FakeServer):
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unexpected: list[str] = []
        self.failures: defaultdict[str, deque[tuple[int, str, dict[str, Any]]]] = defaultdict(deque)
        self._next_id = 5000
        self.updates: list[dict[str, Any]] = []  # served by getUpdates (polling mode)
        self.delivered: list[dict[str, Any]] = []  # sendMessage calls that succeeded
        self.documents: list[dict[str, Any]] = []  # sendDocument calls: `document` is (filename, bytes)
        self.hang_until = self.fail_until = 0.0
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def fail(self, method: str, times: int, code: int, description: str, **parameters: Any) -> None:
        for _ in range(times):
            self.failures[method].append((code, description, parameters))

    def outage(self, hang_s: float, fail_s: float) -> None:
        self.hang_until = time.time() + hang_s
        self.fail_until = self.hang_until + fail_s

    def _in_outage(self) -> bool:
        """Hang until the hang ends (the caller's timeout fires first, or it gets a 502); True while failing."""
        pause = self.hang_until - time.time()
        if pause > 0:
            time.sleep(pause)
        return time.time() < self.fail_until

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                p for m, p in self.calls if m == "sendMessage" and (chat_id is None or int(p["chat_id"]) == chat_id)
            ]

    def wait_sent(self, chat_id: int, contains: str, timeout_s: float = 25) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for p in self.sent(chat_id):
                if contains in p["text"]:
                    return p
            time.sleep(0.1)
        raise AssertionError(f"no sendMessage to {chat_id} containing {contains!r}: {self.sent(chat_id)}")

    # -------------------------------------------------------------------------------- server

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append((method, params))
            if self.failures[method]:
                code, description, extra = self.failures[method].popleft()
                return code, {"ok": False, "error_code": code, "description": description, "parameters": extra}
            if method == "getMe":
                return 200, {"ok": True, "result": BOT_USER}
            if method in ("answerCallbackQuery", "deleteWebhook", "setWebhook"):
                return 200, {"ok": True, "result": True}
            if method == "getUpdates":
                offset = int(params.get("offset") or 0)
                ready = [u for u in self.updates if u["update_id"] >= offset]
                if not ready:
                    self._lock.release()  # a short long-poll, without holding up other calls
                    time.sleep(0.3)
                    self._lock.acquire()
                return 200, {"ok": True, "result": ready}
            if method == "sendMessage":
                self._next_id += 1
                params["_message_id"] = self._next_id  # what the bot was told its message is
                chat_id = int(params["chat_id"])
                self.delivered.append(params)
                message = {"message_id": self._next_id, "date": int(time.time()), "text": params.get("text", ""),
                           "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                           "from": BOT_USER}  # fmt: skip
                return 200, {"ok": True, "result": message}
            if method == "sendDocument":
                self._next_id += 1
                self.documents.append(params)
                n = self._next_id
                message = {"message_id": n, "date": int(time.time()), "caption": params.get("caption", ""),
                           "chat": {"id": int(params["chat_id"]), "type": "private"}, "from": BOT_USER,
                           "document": {"file_id": f"DOC{n}", "file_unique_id": f"U{n}"}}  # fmt: skip
                return 200, {"ok": True, "result": message}
            self.unexpected.append(method)
            return 404, {"ok": False, "error_code": 404, "description": f"fake: unexpected method {method}"}

    def _handler(self) -> type[JsonHandler]:
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                prefix = f"/bot{fake.token}/"
                if not self.path.startswith(prefix):
                    fake.unexpected.append(f"path {self.path}")
                    self.reply_json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
                    return
                raw = self.read_body()
                kind = self.headers.get("content-type", "")
                if "multipart/form-data" in kind:  # a file upload (sendDocument)
                    parts = multipart(kind, raw)
                    params = {k: (f, v) if f else v.decode() for k, (f, v) in parts.items()}
                else:
                    body = raw.decode()
                    params = json.loads(body or "{}") if "json" in kind else dict(parse_qsl(body))
                for key in ("reply_markup", "reply_parameters"):
                    if isinstance(params.get(key), str):
                        params[key] = json.loads(params[key])
                method = self.path[len(prefix) :]
                if method == "sendMessage" and fake._in_outage():
                    with contextlib.suppress(OSError):  # a hung caller has long given up and gone
                        self.reply_json({"ok": False, "error_code": 502, "description": "Bad Gateway"}, 502)
                    return
                code, answer = fake._answer(method, params)
                self.reply_json(answer, code)

            do_GET = do_POST

        return Handler
