"""Channel-neutral message types: what every channel adapter translates to and from."""

from __future__ import annotations

from dataclasses import dataclass

BOT_SENDER = "gridbot"


@dataclass(frozen=True)
class InboundMessage:
    chat_id: str
    sender: str
    text: str
    reply_to: int | None = None
    client_id: str | None = None
    channel: str = "web"


@dataclass(frozen=True)
class Reply:
    message_id: int
    text: str
    ticket_id: int | None


@dataclass(frozen=True)
class Handled:
    message_id: int
    replies: tuple[Reply, ...]
