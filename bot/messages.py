"""Channel-neutral message types: what every channel adapter translates to and from."""

from __future__ import annotations

import hashlib
import re
import unicodedata
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


# Names no client may speak as (web chat, invitation links, API v1), compared after NFKC and case
# folding: what could pass for the bot or the system. "gridbot" is how the transcript marks the
# bot's own posts; "system" is the escalation engine's actor in the timeline (the bulletin tells
# automatic escalations from whistles by it); "@…" is a mention, and was the role of the old
# link codes (`@bind`, `@iam`); 网格通 is the bot's name in the chats; 12345 is the city platform, the
# reporter of the cases it hands over (`tickets.city.CITY_REPORTER`).
RESERVED_PREFIXES = ("@", "bot", "gridbot", "system", "网格通", "12345")
# The identities the platform adapters give their residents ("名字#tg123", "微信用户1a2b#wx…",
# "userid#wc…"): a web chat name like that would be that Telegram/WeChat/WeCom resident.
_CHANNEL_IDENTITY = re.compile(r"#[a-z]{2}\d+$")


def reserved_sender(name: str) -> bool:
    """True for a sender name a client may not choose (see RESERVED_PREFIXES); invisible format
    characters (zero-width space …) and full-width forms do not hide one."""
    visible = "".join(c for c in unicodedata.normalize("NFKC", name) if unicodedata.category(c) != "Cf")
    folded = visible.strip().casefold()
    return folded.startswith(RESERVED_PREFIXES) or bool(_CHANNEL_IDENTITY.search(folded))


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
    one boundary every inbound text crosses, whatever the channel. `chat_id` is always a micro-grid's
    chat: a one-to-one line (a WeChat Official Account resident, staff writing to the WeCom app, a
    WeCom single chat) is routed through its grid's chat but is `private`: it and the bot's answers
    to it go back to that line only and never appear in the group's transcript."""

    chat_id: str
    sender: str
    text: str
    reply_to: int | None = None
    client_id: str | None = None
    channel: str = "web"
    attachments: tuple[Attachment, ...] = ()
    private: bool = False

    def shared_point(self) -> tuple[float, float] | None:
        """(lng, lat) of the first location shared with the message, if any."""
        return next(
            ((a.lng, a.lat) for a in self.attachments
             if a.kind is AttachmentKind.LOCATION and a.lng is not None and a.lat is not None),
            None,
        )  # fmt: skip

    def __post_init__(self) -> None:
        for name in ("chat_id", "sender", "text"):
            object.__setattr__(self, name, storable(getattr(self, name)))
        object.__setattr__(self, "client_id", _client_id(self.client_id))


@dataclass(frozen=True)
class Reply:
    message_id: int
    text: str
    ticket_id: int | None
    template: str | None = None  # the text's key (`tickets.texts.Text`): what kind of answer it is


@dataclass(frozen=True)
class Handled:
    message_id: int
    replies: tuple[Reply, ...]
    nlu_s: float = 0.0  # the NLU parse's share of the handling (API: the Server-Timing header)


Handle = Callable[[InboundMessage], Awaitable[Handled]]
"""Where a channel hands an inbound message (the dispatcher's `handle`)."""
