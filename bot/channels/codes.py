"""Link codes: `/bind CODE` ties a platform group to a micro-grid chat, `/iam CODE` a platform
account to a directory person (Telegram and WeCom). An admin prints them with
`run_bot.py telegram-code`; holding one is the authority, so a code is

- **signed for its purpose**: each purpose has its own key, derived from the API token, and the
  purpose is also part of what the MAC covers. A `/bind` code is never an `/iam` code, and no code
  is ever a web chat token (those have their own key, see `bot/channels/webchat.py`);
- **expiring**: the code carries the moment it stops working (`GRIDBOT_LINK_CODE_TTL_S` after it was
  printed, a day by default: long enough to hand it over, short enough that a leaked slip of paper
  is soon worthless);
- **single-use**: the adapter spends its id in the same transaction as the bind or link
  (`ChannelStore.use_once`), so a code works once across every bot process and restart, and a code
  said where others could read it (an `/iam` in a group) is spent on the spot.

The format is `base64url(subject \\n expires \\n nonce) . mac`, only characters a chat keeps intact.
Signing and reading are pure (the clock is a parameter); `redeem` spends a code through the
`ChannelStore` port.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from tickets.ports import UnitOfWork, UnitOfWorkFactory

DEFAULT_TTL_S = 24 * 3600
_MAC_HEX = 32  # 128 bits of HMAC-SHA256


class Purpose(StrEnum):
    BIND = "bind"  # subject: the micro-grid's chat id
    IAM = "iam"  # subject: the directory person id


@dataclass(frozen=True)
class LinkCode:
    """A code whose signature checked out for its purpose (it may still be expired or spent)."""

    purpose: Purpose
    subject: str
    expires_at: int  # Unix seconds
    nonce: str

    @property
    def once_key(self) -> str:
        """What `ChannelStore.use_once` spends: unique per printed code."""
        return f"{self.purpose.value}-{self.nonce}"

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def purpose_key(api_token: str, purpose: Purpose) -> bytes:
    """A key per purpose (HMAC of the API token over the purpose's label): rotating the API token
    rotates every one of them, and none of them is the key of another purpose."""
    return hmac.new(api_token.encode(), f"gridbot link code/{purpose.value}".encode(), hashlib.sha256).digest()


class LinkCodes:
    """Issues and reads the codes of every purpose; `clock` is Unix time (tests move it)."""

    def __init__(self, api_token: str, ttl_s: int = DEFAULT_TTL_S, clock: Callable[[], float] = time.time) -> None:
        self._keys = {p: purpose_key(api_token, p) for p in Purpose}
        self._ttl_s = ttl_s
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def bind_code(self, chat_id: str) -> str:
        return self.issue(Purpose.BIND, chat_id)

    def identity_code(self, person_id: str) -> str:
        return self.issue(Purpose.IAM, person_id)

    def issue(self, purpose: Purpose, subject: str, *, issued_at: float | None = None) -> str:
        expires = int((self._clock() if issued_at is None else issued_at) + self._ttl_s)
        raw = f"{subject}\n{expires}\n{secrets.token_hex(8)}".encode()
        payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{payload}.{self._mac(purpose, payload)}"

    def read(self, purpose: Purpose, code: str) -> LinkCode | None:
        """The code if it was signed for `purpose` (expired or not); None for anything else."""
        payload, _, mac = code.strip().partition(".")
        if not payload or not hmac.compare_digest(mac.encode(), self._mac(purpose, payload).encode()):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
            subject, expires, nonce = raw.split("\n")
            return LinkCode(purpose, subject, int(expires), nonce)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None  # signed by us but not in this format: cannot happen unless the key leaked

    def _mac(self, purpose: Purpose, payload: str) -> str:
        message = f"{purpose.value}.{payload}".encode()
        return hmac.new(self._keys[purpose], message, hashlib.sha256).hexdigest()[:_MAC_HEX]


Then = Callable[[UnitOfWork], Awaitable[None]]


async def redeem(uow: UnitOfWorkFactory, codes: LinkCodes, code: LinkCode, then: Then | None = None) -> bool:
    """Spend `code` and do `then` (bind, link) in one transaction: False, and nothing done, when it
    expired or was spent before (by anyone, in any process). Without `then` it only burns the code."""
    if code.expired(codes.now()):
        return False
    async with uow() as unit:
        if not await unit.channels.use_once(code.once_key):
            return False
        if then is not None:
            await then(unit)
    return True
