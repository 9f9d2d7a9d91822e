"""The admin login on SQLite and PostgreSQL (issue 18 #16): one answer for every refusal, the right
password of an account that is not locked always let through, wrong ones slowed per address, and
the account lock counted under a row lock so concurrent guesses cannot undo it."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from admin.auth import REFUSED, AdminAuth, LoginRefused, hash_password
from bot.ratelimit import RateLimiter
from storage.sql import SqlUnitOfWork
from tests.unit.factories import T0, directory
from tickets.accounts import MAX_FAILURES, Account, AccountRole

PASSWORD = "right-pass-1"


async def make_auth(engine: AsyncEngine, per_address: int = 20, tarpit_s: float = 0.0) -> AdminAuth:
    auth = AdminAuth(lambda: SqlUnitOfWork(engine), directory, lambda: T0, RateLimiter(per_address, 900, 1000, 60),
                     tarpit_s)  # fmt: skip
    async with SqlUnitOfWork(engine) as uow:
        for name, disabled in (("oc", False), ("gone", True)):
            await uow.accounts.save(Account(name, "oc", AccountRole.COMMUNITY, hash_password(PASSWORD), T0,
                                            disabled=disabled))  # fmt: skip
    return auth


async def refusal(auth: AdminAuth, username: str, password: str, address: str = "10.0.0.1") -> str:
    with pytest.raises(LoginRefused) as refused:
        await auth.login(username, password, address)
    return str(refused.value)


async def test_every_refusal_gets_the_same_answer(engine: AsyncEngine) -> None:
    auth = await make_auth(engine)
    answers = {await refusal(auth, "nobody", PASSWORD), await refusal(auth, "gone", PASSWORD)}
    for _ in range(MAX_FAILURES):
        answers.add(await refusal(auth, "oc", "wrong-pass"))
    answers.add(await refusal(auth, "oc", PASSWORD))  # locked now: even the right password
    assert answers == {REFUSED}


async def test_a_busy_address_never_blocks_the_right_password_and_its_wrong_ones_wait(engine: AsyncEngine) -> None:
    """Finding 16: after 20 failures from one address even correct passwords were refused for 15 minutes."""
    auth = await make_auth(engine, per_address=3, tarpit_s=0.3)
    for i in range(3):  # a spray over names: no account locks
        await refusal(auth, f"spray-{i}", "guess-1234")
    started = time.monotonic()
    assert await refusal(auth, "spray-x", "guess-1234") == REFUSED
    assert time.monotonic() - started >= 0.3  # over the address's budget: the wrong answer is held back
    token, who = await auth.login("oc", PASSWORD, "10.0.0.1")
    assert token and who.account.username == "oc"
    assert (await auth.principal(token)) is not None


async def test_concurrent_wrong_passwords_still_lock_the_account(engine: AsyncEngine) -> None:
    auth = await make_auth(engine)
    guesses = [refusal(auth, "oc", f"wrong-{i}", f"10.0.1.{i}") for i in range(MAX_FAILURES)]
    assert set(await asyncio.gather(*guesses)) == {REFUSED}
    async with SqlUnitOfWork(engine) as uow:
        account = await uow.accounts.get("oc")
    assert account is not None and account.locked(T0)
    assert await refusal(auth, "oc", PASSWORD) == REFUSED
