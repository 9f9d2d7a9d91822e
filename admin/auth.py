"""Admin web login: argon2 password hashes, server-side sessions (a random cookie token, stored
hashed), a CSRF token per session, and a lock after repeated wrong passwords.

Sessions live in the database so several bot processes behind a load balancer share them. The
account lock is stored too (shared); a per-address tarpit in each process slows password sprays
(see `AdminAuth`).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.ratelimit import RateLimiter
from tickets.accounts import (
    LOCK_FOR,
    MAX_FAILURES,
    Account,
    AccountError,
    AccountRole,
    AuditEntry,
    jurisdiction,
    role_for,
)
from tickets.directory import Directory
from tickets.ports import UnitOfWork, UnitOfWorkFactory, WebSession

SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD = 8
_HASHER = PasswordHasher()
# Verify against this when the user does not exist, so timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("gridbot-no-such-user")
# The one answer to every refused login (unknown, disabled or locked account, wrong password, busy address).
REFUSED = f"用户名或密码错误。连续输错 {MAX_FAILURES} 次，账号将锁定 {LOCK_FOR // timedelta(minutes=1)} 分钟。"
TARPIT_S = 3.0  # how long a wrong password from an address over its budget waits for its answer


class FirstAdmin(StrEnum):
    """What start-up did with GRIDBOT_ADMIN_USER/PASSWORD."""

    CREATED = "created"  # the account did not exist: created with that password
    KEPT = "kept"  # it exists and that is its password
    IGNORED = "ignored"  # it exists with another password, which stays (reset with the CLI)


class LoginRefused(Exception):
    """The message is shown on the login page as is."""


@dataclass(frozen=True)
class Principal:
    """Who is signed in, what they may see (None: every grid) and the form token of their session."""

    account: Account
    name: str
    grids: frozenset[str] | None
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.account.role is AccountRole.ADMIN


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少 {MIN_PASSWORD} 位")
    return _HASHER.hash(password)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AdminAuth:
    """Accounts, sessions and the login's defences.

    Every refused login gets the same answer (`REFUSED`), whatever the reason (unknown or disabled
    account, wrong password, locked account, throttled address), so the page never tells which names
    exist or which accounts are locked. Two defences, neither of which ever stops the right password
    of an account that is not locked:

    - per account (stored, so every process sees it): `MAX_FAILURES` wrong passwords in a row lock it
      for `LOCK_FOR`; the count is updated under a row lock, so concurrent guesses cannot undo each
      other's count. This is what bounds guessing one account.
    - per address (this process): wrong passwords are counted, and once an address (or the whole
      process) is over its budget each further wrong answer is held back `tarpit_s`. A refusal of
      everything from a busy address would lock out an office behind one NAT, or a user someone
      else sprays at, so a right password is always checked and let through.

    Hashes are checked off the event loop, at most `VERIFY_SLOTS` at a time: one argon2 check takes
    tens of milliseconds and 64 MiB, and a burst of logins must neither stall the chats nor exhaust
    memory (they wait their turn instead).
    """

    VERIFY_SLOTS = 2

    def __init__(self, uow: UnitOfWorkFactory, directory: Callable[[], Directory], now: Callable[[], datetime],
                 failures: RateLimiter | None = None, tarpit_s: float = TARPIT_S) -> None:  # fmt: skip
        self._uow = uow
        self._directory = directory
        self._now = now
        self._failures = failures or RateLimiter(20, 900.0, 1000, 60.0)  # wrong per address / 15 min, overall / min
        self._tarpit_s = tarpit_s
        self._verifying = asyncio.Semaphore(self.VERIFY_SLOTS)

    async def login(self, username: str, password: str, address: str) -> tuple[str, Principal]:
        """A new session for the right password of an enabled account that is not locked; else LoginRefused."""
        name = username.strip()
        async with self._uow() as uow:
            seen = await uow.accounts.get(name)
        usable = seen is not None and not seen.disabled
        right = await self._verify(seen.password_hash if seen is not None and usable else _DUMMY_HASH, password)
        if seen is not None and usable:
            async with self._uow() as uow:
                opened = await self._settle(uow, seen, right, self._now())
                if opened is not None:
                    return opened
        await self._refused(address)
        raise LoginRefused(REFUSED)

    async def _settle(self, uow: UnitOfWork, seen: Account, right: bool, now: datetime) -> tuple[str, Principal] | None:
        """Under the account's row lock: open a session, or count the failure (None)."""
        account = await uow.accounts.get(seen.username, for_update=True)
        if account is None or account.disabled or account.password_hash != seen.password_hash:
            return None  # changed meanwhile: the check above was against another password
        target = f"account:{account.username}"
        if account.locked(now):
            await uow.accounts.audit(AuditEntry(now, account.username, "login.locked", target, after={"right": right}))
            return None
        if right:
            return await self._open(uow, account, now)
        await uow.accounts.save(account.failed(now))
        await uow.accounts.audit(AuditEntry(now, account.username, "login.failed", target))
        return None

    async def _verify(self, hashed: str, password: str) -> bool:
        async with self._verifying:
            return await asyncio.to_thread(_check, hashed, password)

    async def _refused(self, address: str) -> None:
        """Count a refused attempt against its address; past the budget, answer it only after the tarpit."""
        if self._failures.take(address) > 0:
            await asyncio.sleep(self._tarpit_s)

    async def _open(self, uow: UnitOfWork, account: Account, now: datetime) -> tuple[str, Principal]:
        account = account.succeeded()
        await uow.accounts.save(account)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        await uow.accounts.open_session(_digest(token), WebSession(account.username, csrf, now + SESSION_TTL))
        await uow.accounts.audit(AuditEntry(now, account.username, "login", f"account:{account.username}"))
        return token, self._principal(account, csrf)

    async def principal(self, token: str | None) -> Principal | None:
        if not token:
            return None
        async with self._uow() as uow:
            session = await uow.accounts.session(_digest(token))
            if session is None or session.expires_at <= self._now():
                return None
            account = await uow.accounts.get(session.username)
        if account is None or account.disabled:
            return None
        return self._principal(account, session.csrf)

    async def logout(self, token: str | None) -> None:
        if token:
            async with self._uow() as uow:
                await uow.accounts.close_session(_digest(token))

    async def create(self, actor: str, username: str, person_id: str, password: str) -> Account:
        """A new account for a directory person; its role comes from where they serve."""
        username = username.strip()
        if not username or len(username) > 64 or not username.isprintable() or " " in username:
            raise AccountError("用户名不能为空、不能有空格，最多 64 个字符")
        role = role_for(self._directory(), person_id)
        account = Account(username, person_id, role, hash_password(password), self._now())
        async with self._uow() as uow:
            if await uow.accounts.get(username) is not None:
                raise AccountError(f"用户名 {username} 已存在")
            await uow.accounts.save(account)
            await uow.accounts.audit(AuditEntry(self._now(), actor, "account.create", f"account:{username}",
                                                after={"person_id": person_id, "role": role.value}))  # fmt: skip
        return account

    async def set_password(self, actor: str, username: str, password: str) -> None:
        async with self._uow() as uow:
            account = await uow.accounts.get(username)
            if account is None:
                raise AccountError(f"没有账号 {username}")
            fresh = replace(account.succeeded(), password_hash=hash_password(password))
            await uow.accounts.save(fresh)
            await uow.accounts.close_sessions_of(username)
            await uow.accounts.audit(AuditEntry(self._now(), actor, "account.password", f"account:{username}"))

    async def set_disabled(self, actor: str, username: str, disabled: bool) -> None:
        async with self._uow() as uow:
            account = await uow.accounts.get(username)
            if account is None:
                raise AccountError(f"没有账号 {username}")
            if account.username == actor and disabled:
                raise AccountError("不能停用自己的账号")
            await uow.accounts.save(replace(account, disabled=disabled))
            if disabled:
                await uow.accounts.close_sessions_of(username)
            await uow.accounts.audit(AuditEntry(self._now(), actor, "account.disable" if disabled else "account.enable",
                                                f"account:{username}", {"disabled": account.disabled},
                                                {"disabled": disabled}))  # fmt: skip

    async def ensure_first_admin(self, username: str, password: str) -> FirstAdmin:
        """GRIDBOT_ADMIN_USER/PASSWORD: create that admin at start-up if it does not exist yet.

        An existing account's password is never overwritten from the environment: a leaked or stale
        deployment file must not be able to reset an admin on the next restart. When the environment's
        password is not the stored one, the caller says so loudly (IGNORED); `run_bot.py admin
        reset-password USER` is the one way to change it outside the admin web."""
        directory = self._directory()
        person = next((p.id for p in directory.people.values() if p.role.value == "admin"), username)
        async with self._uow() as uow:
            existing = await uow.accounts.get(username)
            if existing is None:
                account = Account(username, person, AccountRole.ADMIN, hash_password(password), self._now())
                await uow.accounts.save(account)
                await uow.accounts.audit(AuditEntry(self._now(), "system", "account.create", f"account:{username}",
                                                    after={"role": "admin", "from": "GRIDBOT_ADMIN_USER"}))  # fmt: skip
                return FirstAdmin.CREATED
        same = await asyncio.to_thread(_check, existing.password_hash, password)
        return FirstAdmin.KEPT if same else FirstAdmin.IGNORED

    def _principal(self, account: Account, csrf: str) -> Principal:
        directory = self._directory()
        person = directory.person(account.person_id)
        return Principal(account, person.name if person else account.username, jurisdiction(directory, account), csrf)


def _check(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
