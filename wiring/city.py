"""Factories of the city platform's parts (12345, 接诉即办): the event feed the case service writes
pushes through, and the pusher that sends them (both off unless GRIDBOT_CITY_PUSH_URL is set)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from bot.city_push import CityFeed, CityPusher
from bot.metrics import Metrics
from config.settings import Settings
from tickets.ports import UnitOfWorkFactory

MIN_SECRET = 16


class CitySettingsError(ValueError):
    """GRIDBOT_CITY_PUSH_* settings that cannot work (the bot refuses to start and says which)."""


def city_feed(settings: Settings) -> CityFeed | None:
    """The case service's event feed: None (nothing is queued) unless pushes are on."""
    if not settings.city_push_url:
        return None
    _check(settings)
    return CityFeed(every_case=settings.city_push_scope == "all")


def _check(settings: Settings) -> None:
    url = urlsplit(settings.city_push_url or "")
    if url.scheme not in ("http", "https") or not url.netloc:
        raise CitySettingsError(f"GRIDBOT_CITY_PUSH_URL must be an http(s) URL, got {settings.city_push_url!r}")
    if len(settings.city_push_secret or "") < MIN_SECRET:
        raise CitySettingsError(f"GRIDBOT_CITY_PUSH_SECRET (at least {MIN_SECRET} characters) is required with "
                                "GRIDBOT_CITY_PUSH_URL: the platform verifies every push by it")  # fmt: skip


@contextlib.asynccontextmanager
async def city_pusher(
    settings: Settings, uow: UnitOfWorkFactory, now: Callable[[], datetime], metrics: Metrics
) -> AsyncIterator[CityPusher | None]:
    """The pusher and its HTTP client (closed at the end), or None when pushes are off."""
    if not settings.city_push_url:
        yield None
        return
    _check(settings)
    timeout = httpx.Timeout(settings.city_push_timeout_s, connect=min(3.0, settings.city_push_timeout_s))
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        yield CityPusher(
            uow, client, settings.city_push_url, (settings.city_push_secret or "").encode(), now,
            max_attempts=settings.city_push_attempts, timeout_s=settings.city_push_timeout_s,
            on_attempt=metrics.pushed,
        )  # fmt: skip
