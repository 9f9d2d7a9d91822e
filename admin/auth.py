"""Admin web login: argon2 password hashes, server-side sessions (a random cookie token, stored
hashed), a CSRF token per session, and a lock after repeated wrong passwords.

Sessions live in the database so several bot processes behind a load balancer share them. The
account lock is stored too (shared); a per-address limit in each process slows password sprays.
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
from tickets.accounts import Account, AccountError, AccountRole, AuditEntry, jurisdiction, role_for
from tickets.directory import Directory
from tickets.ports import UnitOfWork, UnitOfWorkFactory, WebSession

SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD = 8
_HASHER = PasswordHasher()
# Verify against this when the user does not exist, so timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("gridbot-no-such-user")


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
    def __init__(self, uow: UnitOfWorkFactory, directory: Callable[[], Directory], now: Callable[[], datetime]) -> None:
        self._uow = uow
        self._directory = directory
        self._now = now
        self._per_address = RateLimiter(20, 900.0, 1000, 60.0)  # failures per address / 15 min, overall / min

    async def login(self, username: str, password: str, address: str) -> tuple[str, Principal]:
        now = self._now()
        if self._per_address.delay(address) > 0:  # only failures count: an office behind one NAT can log in
            raise LoginRefused("尝试次数过多，请 15 分钟后再试")
        async with self._uow() as uow:
            account = await uow.accounts.get(username.strip())
            refusal = await self._refusal(uow, account, password, now)
            if refusal is None and account is not None:
                return await self._open(uow, account, now)
        self._per_address.take(address)
        raise LoginRefused(refusal or "用户名或密码错误")  # after the block: the counted failure is committed

    async def _refusal(self, uow: UnitOfWork, account: Account | None, password: str, now: datetime) -> str | None:
        if account is None or account.disabled:
            _check(_DUMMY_HASH, password)
            return "用户名或密码错误"
        if account.locked(now):
            return "密码错误次数过多，账号已临时锁定，请 15 分钟后再试"
        if not _check(account.password_hash, password):
            await uow.accounts.save(account.failed(now))
            await uow.accounts.audit(AuditEntry(now, account.username, "login.failed", f"account:{account.username}"))
            return "用户名或密码错误"
        return None

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
