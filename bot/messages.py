"""Channel-neutral message types: what every channel adapter translates to and from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

BOT_SENDER = "gridbot"


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
    """One message to handle. `chat_id` is always a micro-grid's chat: a one-to-one line (a WeChat
    Official Account resident, staff writing to the WeCom app, a WeCom single chat) is routed
    through its grid's chat but is `private`: it and the bot's answers to it go back to that line
    only and never appear in the group's transcript."""

    chat_id: str
    sender: str
    text: str
    reply_to: int | None = None
    client_id: str | None = None
    channel: str = "web"
    attachments: tuple[Attachment, ...] = ()
    private: bool = False


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
