"""Channel mappings on real databases: bindings, identities and the preferred channel, message
mappings, send windows."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.sql import SqlUnitOfWork
from tests.unit.factories import T0


async def test_a_person_on_several_channels_is_pinged_on_the_latest_linked(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine) as uow:
        await uow.channels.link_person("telegram", "4242", "w-yg-1")
    await asyncio.sleep(0.01)
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.channels.preferred_channel("w-yg-1") == "telegram"
        await uow.channels.link_person("wecom", "lijianguo", "w-yg-1")
        assert await uow.channels.person_of("telegram", "4242") == "w-yg-1"  # recognised on both
        assert await uow.channels.person_of("wecom", "lijianguo") == "w-yg-1"
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.channels.preferred_channel("w-yg-1") == "wecom"
        await uow.channels.link_person("telegram", "4242", "w-yg-1")  # the same link again changes nothing
        assert await uow.channels.preferred_channel("w-yg-1") == "wecom"
        assert await uow.channels.preferred_channel("nobody") is None


async def test_bindings_message_maps_and_windows(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine) as uow:
        await uow.channels.bind_chat("telegram", "-100", "yg-1")
        await uow.channels.bind_chat("telegram", "-100", "yg-2")  # rebinding moves the group
        assert await uow.channels.chat_of("telegram", "-100") == "yg-2"
        assert await uow.channels.external_chats("telegram", "yg-2") == ["-100"]
        await uow.channels.remember("telegram", "-100", "77", 5)
        await uow.channels.remember("telegram", "-100", "77", 5)  # a platform retry: no error
        assert await uow.channels.message_of("telegram", "-100", "77") == 5
        assert await uow.channels.external_message("telegram", "-100", 5) == "77"
        await uow.channels.remember("wechat", "oX", "held-9", 9)
        assert await uow.channels.marked("wechat", "oX", "held-") == [9]
        await uow.channels.forget("wechat", "oX", "held-9")
        assert await uow.channels.marked("wechat", "oX", "held-") == []
        await uow.channels.open_window("wechat", "oX", T0)
        taken = [await uow.channels.use_window("wechat", "oX", T0 + timedelta(hours=1), 5, 48 * 3600) for _ in range(6)]
        assert taken == [True] * 5 + [False]
        await uow.channels.open_window("wechat", "oX", T0)
        assert not await uow.channels.use_window("wechat", "oX", T0 + timedelta(hours=49), 5, 48 * 3600)


async def test_concurrent_first_contacts_of_one_resident_do_not_collide(engine: AsyncEngine) -> None:
    """A platform's retries reach several processes at once: each opens the window, links the
    person and binds the chat for the same resident in its own transaction (a storm found the
    delete-then-insert these used to be failing with a unique violation)."""

    async def first_contact(chat: str) -> None:
        async with SqlUnitOfWork(engine) as uow:
            await uow.channels.open_window("wechat", "oStorm", T0)
            await uow.channels.link_person("wechat", "oStorm", "微信用户torm")
            await uow.channels.bind_chat("wechat", "oStorm", chat)
            await asyncio.sleep(0.05)  # hold the transaction open while the others arrive

    await asyncio.gather(*(first_contact("yg-1") for _ in range(4)))
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.channels.chat_of("wechat", "oStorm") == "yg-1"
        assert await uow.channels.person_of("wechat", "oStorm") == "微信用户torm"
        assert await uow.channels.use_window("wechat", "oStorm", T0, 5, 3600)
    async with SqlUnitOfWork(engine) as uow:
        await uow.channels.bind_chat("wechat", "oStorm", "xh-1")  # a later scan moves the resident
        assert await uow.channels.chat_of("wechat", "oStorm") == "xh-1"


async def test_a_quota_is_spent_within_its_span_and_starts_afresh_after_it(engine: AsyncEngine) -> None:
    """The web chat's upload quota: an amount is taken only while it fits; the span runs from its first
    use; two processes taking at once never both spend the last of it."""
    day = 24 * 3600
    async with SqlUnitOfWork(engine) as uow:
        taken = [await uow.channels.use_quota("media-bytes", "tok", T0 + timedelta(hours=h), 4, 10, day)
                 for h in range(3)]  # fmt: skip
        assert taken == [True, True, False]  # 4 + 4 fit in 10, a third 4 does not
        assert await uow.channels.use_quota("media-bytes", "tok", T0 + timedelta(hours=3), 2, 10, day)  # 10 exactly
        assert not await uow.channels.use_quota("media-bytes", "tok", T0 + timedelta(hours=23), 1, 10, day)
        assert await uow.channels.use_quota("media-bytes", "other", T0, 10, 10, day)  # each key its own budget
        assert await uow.channels.use_quota("media-bytes", "tok", T0 + timedelta(hours=24), 10, 10, day)  # afresh
        assert not await uow.channels.use_quota("media-bytes", "big", T0, 11, 10, day)  # never more than the limit

    async def take(key: str) -> bool:
        async with SqlUnitOfWork(engine) as uow:
            ok = await uow.channels.use_quota("media-count", key, T0, 1, 3, day)
            await asyncio.sleep(0.05)  # hold the transaction open while the others arrive
            return ok

    assert sorted(await asyncio.gather(*(take("race") for _ in range(5)))) == [False, False, True, True, True]
