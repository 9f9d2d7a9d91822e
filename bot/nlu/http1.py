"""A lean HTTP/1.1 client for the one hot call to Rasa (`POST /model/parse`): kept-alive connections
in a small pool, the request written as bytes, the response read by Content-Length. httpx built
a request, a response and their header objects per call, which cost the bot several times the CPU
of the call itself (bench/rasa_client.py measures both). Anything unexpected raises `HttpError`
and the connection is dropped; a connection the server closed while idle is retried once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class KeepAlivePool:
    def __init__(self, base_url: str, size: int = 16, max_body: int = 4 * 1024 * 1024, query: str = "") -> None:
        """`query` (already encoded, e.g. Rasa's `token=…`) goes on every request and never into
        an error message."""
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise HttpError(f"only plain http://host:port URLs are supported, got {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._query = f"?{query}" if query else ""
        self._idle: deque[Connection] = deque()
        self._size = size
        self._max_body = max_body
        self._host_header = f"{self.host}:{self.port}".encode()

    async def post_json(self, path: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        """POST `body` (JSON) to `path`; (status, response body). Raises HttpError or TimeoutError."""
        head = (
            b"POST " + (self._prefix + path + self._query).encode() + b" HTTP/1.1\r\nHost: " + self._host_header
            + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )  # fmt: skip
        for attempt in (1, 2):
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else await self._connect(timeout_s)
            try:
                async with asyncio.timeout(timeout_s):
                    status, answer, keep = await self._exchange(connection, head + body)
            except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
                self._drop(connection)
                if reused and attempt == 1:
                    continue  # the server closed an idle connection: once more on a fresh one
                raise HttpError(f"{self.host}:{self.port}{path}: {exc!r}") from exc
            except BaseException:  # a timeout or a cancellation: the connection's state is unknown
                self._drop(connection)
                raise
            self._release(connection, keep)
            return status, answer
        raise HttpError("unreachable")  # pragma: no cover

    async def _connect(self, timeout_s: float) -> Connection:
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise HttpError(f"cannot connect to {self.host}:{self.port}: {exc!r}") from exc

    async def _exchange(self, connection: Connection, request: bytes) -> tuple[int, bytes, bool]:
        reader, writer = connection
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise HttpError("connection closed before the answer")
        status = int(status_line.split(b" ", 2)[1])
        length, keep = -1, True
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
            elif name == b"transfer-encoding":
                raise HttpError("chunked answers are not expected from Rasa")
        if length < 0 or length > self._max_body:
            raise HttpError(f"answer without a usable Content-Length ({length})")
        return status, await reader.readexactly(length), keep

    def _release(self, connection: Connection, keep: bool) -> None:
        if keep and len(self._idle) < self._size:
            self._idle.append(connection)
        else:
            self._drop(connection)

    @staticmethod
    def _drop(connection: Connection) -> None:
        with contextlib.suppress(Exception):
            connection[1].close()

    async def aclose(self) -> None:
        while self._idle:
            self._drop(self._idle.pop())
