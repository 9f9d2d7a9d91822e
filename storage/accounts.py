"""The admin web's accounts, login sessions and audit log in SQL (the `AccountStore` port)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from tickets.accounts import Account, AccountRole, AuditEntry
from tickets.ports import WebSession


class SqlAccountStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def get(self, username: str, *, for_update: bool = False) -> Account | None:
        query = select(t.admin_accounts).where(t.admin_accounts.c.username == username)
        row = (await self._c.execute(query.with_for_update() if for_update else query)).first()
        return _account(row._mapping) if row else None

    async def save(self, account: Account) -> None:
        values = {
            "username": account.username, "person_id": account.person_id, "role": account.role.value,
            "password_hash": account.password_hash, "created_at": account.created_at, "failures": account.failures,
            "locked_until": account.locked_until, "disabled": account.disabled,
        }  # fmt: skip
        c = t.admin_accounts.c
        done = await self._c.execute(t.admin_accounts.update().where(c.username == account.username).values(values))
        if done.rowcount == 0:
            await self._c.execute(t.admin_accounts.insert().values(values))

    async def all(self) -> list[Account]:
        rows = await self._c.execute(select(t.admin_accounts).order_by(t.admin_accounts.c.username))
        return [_account(r._mapping) for r in rows]

    async def open_session(self, token_hash: str, session: WebSession) -> None:
        await self._c.execute(
            t.admin_sessions.insert().values(
                token_hash=token_hash, username=session.username, csrf=session.csrf, expires_at=session.expires_at
            )
        )

    async def session(self, token_hash: str) -> WebSession | None:
        c = t.admin_sessions.c
        row = (await self._c.execute(select(t.admin_sessions).where(c.token_hash == token_hash))).first()
        if row is None:
            return None
        m = row._mapping
        return WebSession(m["username"], m["csrf"], m["expires_at"])

    async def close_session(self, token_hash: str) -> None:
        await self._c.execute(delete(t.admin_sessions).where(t.admin_sessions.c.token_hash == token_hash))

    async def close_sessions_of(self, username: str) -> None:
        await self._c.execute(delete(t.admin_sessions).where(t.admin_sessions.c.username == username))

    async def audit(self, entry: AuditEntry) -> None:
        await self._c.execute(
            t.audit_log.insert().values(
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                target=entry.target[:200],
                before=dict(entry.before),
                after=dict(entry.after),
            )
        )

    async def audit_log(self, limit: int, offset: int = 0, target: str | None = None) -> list[AuditEntry]:
        c = t.audit_log.c
        query = select(t.audit_log).order_by(c.id.desc()).limit(limit).offset(offset)
        if target:
            query = query.where(c.target == target)
        return [_entry(r._mapping) for r in await self._c.execute(query)]


def _account(m: Any) -> Account:
    return Account(
        username=m["username"], person_id=m["person_id"], role=AccountRole(m["role"]),
        password_hash=m["password_hash"], created_at=m["created_at"], failures=m["failures"],
        locked_until=m["locked_until"], disabled=bool(m["disabled"]),
    )  # fmt: skip


def _entry(m: Any) -> AuditEntry:
    return AuditEntry(m["at"], m["actor"], m["action"], m["target"], m["before"] or {}, m["after"] or {}, m["id"])
