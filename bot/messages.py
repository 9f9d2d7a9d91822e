"""Channel-neutral message types: what every channel adapter translates to and from."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

BOT_SENDER = "gridbot"
MAX_CLIENT_ID = 128  # the width of `messages.client_id`
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` as every database stores it: NUL dropped (PostgreSQL refuses it in text, and nobody means
    it) and lone UTF-16 surrogates (JSON's `\\ud800` escapes; no UTF-8 encoder takes them) replaced by
    U+FFFD. Dropping rather than refusing: the message is stored and handled, on SQLite and PostgreSQL
    alike, with what its sender meant."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def _client_id(client_id: str | None) -> str | None:
    """A platform's message id longer than its column is replaced by its digest (retries still dedupe)."""
    if client_id is None:
        return None
    client_id = storable(client_id)
    return client_id if len(client_id) <= MAX_CLIENT_ID else "h-" + hashlib.sha256(client_id.encode()).hexdigest()


class AttachmentKind(StrEnum):
    IMAGE = "image"
    LOCATION = "location"


@dataclass(frozen=True)
class Attachment:
    """A photo (by the channel's URL or media id) or a shared place (coordinates and a label)."""

    kind: AttachmentKind
    url: str = ""
    lat: float | None = None
    lng: float | None = None
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", storable(self.url))
        object.__setattr__(self, "label", storable(self.label))

    def place(self) -> str:
        """What a shared location says about where: its label, else the coordinates."""
        if self.kind is not AttachmentKind.LOCATION:
            return ""
        return self.label or f"{self.lat:.5f},{self.lng:.5f}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.url:
            out["url"] = self.url
        if self.kind is AttachmentKind.LOCATION:
            out.update(lat=self.lat, lng=self.lng, label=self.label)
        return out


@dataclass(frozen=True)
class InboundMessage:
    """What every channel hands the dispatcher. Made storable where it is made (`storable`): this is the
    one boundary every inbound text crosses, whatever the channel."""

    chat_id: str
    sender: str
    text: str
    reply_to: int | None = None
    client_id: str | None = None
    channel: str = "web"
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        for name in ("chat_id", "sender", "text"):
            object.__setattr__(self, name, storable(getattr(self, name)))
        object.__setattr__(self, "client_id", _client_id(self.client_id))


@dataclass(frozen=True)
class Reply:
    message_id: int
    text: str
    ticket_id: int | None


@dataclass(frozen=True)
class Handled:
    message_id: int
    replies: tuple[Reply, ...]
    nlu_s: float = 0.0  # the NLU parse's share of the handling (API: the Server-Timing header)


Handle = Callable[[InboundMessage], Awaitable[Handled]]
"""Where a channel hands an inbound message (the dispatcher's `handle`)."""
