"""The loop watchdog names the code that blocks the event loop, and stays quiet when nothing does."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.watchdog import LoopWatchdog, watching


def a_blocking_call_in_a_handler() -> None:
    time.sleep(0.35)  # what a stall looks like from the loop: nothing else runs


async def test_a_blocked_loop_is_logged_with_the_blocking_stack(caplog: pytest.LogCaptureFixture) -> None:
    watchdog = LoopWatchdog(0.1)
    with caplog.at_level(logging.WARNING, logger="bot.watchdog"):
        watchdog.start()
        try:
            await asyncio.sleep(0.15)  # a few heartbeats
            a_blocking_call_in_a_handler()
            await asyncio.sleep(0.05)
        finally:
            watchdog.stop()
    blocked = [r.getMessage() for r in caplog.records if "event loop blocked" in r.getMessage()]
    assert len(blocked) == 1 and watchdog.stalls == 1  # one line per stall, not one per check
    assert "a_blocking_call_in_a_handler" in blocked[0]


async def test_a_busy_but_responsive_loop_is_not_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    watchdog = LoopWatchdog(0.1)
    with caplog.at_level(logging.WARNING, logger="bot.watchdog"):
        watchdog.start()
        try:
            for _ in range(20):
                time.sleep(0.01)  # noqa: ASYNC251 -- short slices of blocking work, the loop runs between them
                await asyncio.sleep(0)
            await asyncio.sleep(0.2)
        finally:
            watchdog.stop()
    assert watchdog.stalls == 0 and not caplog.records


async def test_zero_turns_the_watchdog_off_and_a_tiny_limit_is_raised() -> None:
    with watching(0) as off:
        assert off is None
    with watching(1) as on:
        assert on is not None and on.limit_s == 0.05
