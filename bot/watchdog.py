"""Stalls of the whole process, seen from inside: a thread that notices when the event loop has not
run for a while and logs where the loop's thread is, and a timer on the garbage collector's
collections. Every request waits while the loop is blocked, so a stall shows as a p99 spike; these
two log lines say whether it was our code (a stack), the collector (a generation and a duration),
or neither (the host: the process was not scheduled).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


class LoopWatchdog:
    """Logs once per stall when the loop's heartbeat is older than `limit_s`, with the loop
    thread's stack at that moment, and each collection slower than `limit_s / 4`."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.beat = time.monotonic()
        self.stalls = 0
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """From the loop's thread, inside the running loop."""
        self._loop_thread = threading.get_ident()
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._thread.start()
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        self._stop.set()
        if self._task:
            self._task.cancel()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    async def _heartbeat(self) -> None:
        while True:
            self.beat = time.monotonic()
            await asyncio.sleep(self.limit_s / 4)

    def _watch(self) -> None:
        reported = 0.0
        while not self._stop.wait(self.limit_s / 4):
            beat = self.beat
            lag = time.monotonic() - beat
            if lag > self.limit_s and beat != reported:
                reported = beat
                self.stalls += 1
                frame = sys._current_frames().get(self._loop_thread)
                stack = "".join(traceback.format_stack(frame)[-20:]) if frame else "(no frame)"
                del frame  # the loop's frames (and a request's locals) are not kept until the next stall
                log.warning("event loop blocked for %.0f ms so far; the loop thread is at:\n%s", lag * 1000, stack)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        took = time.perf_counter() - self._gc_started
        if took > self.limit_s / 4:
            log.warning("garbage collection of generation %s took %.0f ms (%s collected)", info.get("generation"),
                        took * 1000, info.get("collected"))  # fmt: skip


@contextmanager
def watching(limit_ms: int) -> Iterator[LoopWatchdog | None]:
    """A watchdog for the running loop while the block runs (none when `limit_ms` is 0; at least 50 ms)."""
    if not limit_ms:
        yield None
        return
    watchdog = LoopWatchdog(max(limit_ms, 50) / 1000)
    watchdog.start()
    try:
        yield watchdog
    finally:
        watchdog.stop()
