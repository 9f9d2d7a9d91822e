"""A browser-like HTTP client for the admin web: logs in through the form, keeps the cookie,
reads the CSRF token from the pages it gets."""

from __future__ import annotations

import re
from typing import Any

import httpx

ADMIN_USER, ADMIN_PASSWORD = "admin", "admin-secret-1"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')


class AdminWeb:
    def __init__(self, base_url: str = "", http: httpx.Client | None = None) -> None:
        """Over real HTTP to `base_url`, or through `http` (an in-process bot's client)."""
        self.http = http or httpx.Client(base_url=base_url, timeout=30)
        self.http.headers["Accept"] = "text/html"
        self.csrf = ""

    def login(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> httpx.Response:
        page = self.http.get("/admin/login")
        token = _LOGIN.search(page.text)
        assert token, page.text
        form = {"login_token": token.group(1), "username": username, "password": password, "next": "/admin"}
        response = self.http.post("/admin/login", data=form)
        if response.status_code == 303:
            self.csrf = self.token_from(self.http.get("/admin/tickets").text)
        return response

    @staticmethod
    def token_from(html: str) -> str:
        match = _CSRF.search(html)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any) -> httpx.Response:
        body = {**(data or {}), **({"csrf": self.csrf} if csrf else {})}
        return self.http.post(path, data=body, **kwargs)
