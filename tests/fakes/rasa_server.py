"""A stand-in for `rasa run --enable-api` (tests write a tiny executable that runs this module):
the same command line, `--auth-token` enforced the way Rasa does it (the `token` query parameter;
without the option every call is allowed, as with Rasa), and the calls the bot makes: `GET /status`,
`POST /model/parse`, `PUT /model`, plus `DELETE /model`, which unloads the model."""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--enable-api", action="store_true")
    parser.add_argument("--model")
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth-token")
    args = parser.parse_args(argv)
    state: dict[str, Any] = {"model": args.model}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the bot's raw pool expects

        def _answer(self, code: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _allowed(self) -> bool:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            given = parse_qs(urlsplit(self.path).query).get("token", [None])[0]
            if args.auth_token is not None and given != args.auth_token:
                self._answer(401, {"status": "failure", "reason": "NotAuthenticated"})
                return False
            return True

        def do_GET(self) -> None:
            if self._allowed():
                self._answer(200, {"model_file": state["model"]})

        def do_POST(self) -> None:
            if self._allowed():
                intent = {"name": "report_sanitation", "confidence": 0.99}
                self._answer(200, {"intent": intent, "entities": [], "intent_ranking": [intent]})

        def do_PUT(self) -> None:
            if self._allowed():
                self._answer(204)

        def do_DELETE(self) -> None:
            if self._allowed():
                state["model"] = None
                self._answer(204)

        def log_message(self, format: str, *log_args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    print("auth token required" if args.auth_token else "API open: no --auth-token", flush=True)  # to the log
    ThreadingHTTPServer((args.interface, args.port), Handler).serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1:])
