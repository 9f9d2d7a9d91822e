"""What the HTTP edge takes from outside: integers that fit the database, JSON that is not a bomb,
identifiers that fit their columns. Whatever does not is refused with a 4xx here, at the edge, instead of
failing deep inside a query as a 500 (SQLite and PostgreSQL refuse different things: the rules are the
stricter of the two)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from bot.errors import ApiError

MAX_ID = 2**63 - 1  # BIGINT, the widest integer column (row ids)
MAX_JSON_DEPTH = 64  # a real webhook payload nests a handful of levels
MAX_EXTERNAL_ID = 128  # the widest platform id column (chats, people, messages)

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A row id from a path, a query or a body (a ticket, a message, a bulletin)."""
Cursor = Annotated[int, Field(ge=0, le=MAX_ID)]
"""`after=N` paging: 0 or a row id."""


def json_body(body: bytes | str) -> Any:
    """A webhook's JSON, or 400: not JSON (any encoding `json` detects: UTF-8, -16, -32), nested deeper
    than `MAX_JSON_DEPTH`, integers beyond 64 bits, `NaN`/`Infinity`. Parsing a deeply nested body
    raises `RecursionError`, which is no `ValueError`: it is caught here too."""
    try:
        value = json.loads(body, parse_int=_int64, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "不是有效的 JSON / not valid JSON") from exc
    if _depth(value) > MAX_JSON_DEPTH:
        raise ApiError(400, "JSON 嵌套过深 / JSON nested too deeply")
    return value


def external_id(value: object, name: str) -> str:
    """A platform's id (`name`: a user's, a chat's) as text that fits its column, or 400."""
    text = str(value or "")
    if not text or len(text) > MAX_EXTERNAL_ID or "\x00" in text:
        raise ApiError(400, f"平台标识无效 / invalid {name}")
    return text


def _int64(digits: str) -> int:
    value = int(digits)
    if not -(2**63) <= value <= MAX_ID:
        raise ValueError(f"integer out of range: {digits[:20]}…")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """How deep lists and objects nest (iterative: a deep value must not exhaust the stack here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_JSON_DEPTH:
                    return depth + 1
                stack.append((child, depth + 1))
        deepest = max(deepest, depth)
    return deepest
