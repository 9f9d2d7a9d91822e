"""Run `rasa run --enable-api` as our child on loopback: start, wait, restart if it dies, stop.

The child gets PR_SET_PDEATHSIG so it dies with us even when we are SIGKILLed. Its HTTP API is
shut with `--auth-token`: a random token per `RasaProcess` (so per bot start), which the bot sends on
every call (`auth_token`). Loopback alone is not a boundary: any local user or process, or a request
forgery through another local service, could otherwise `DELETE /model` (the NLU falls back to the
keyword rules) or `PUT /model` a model of its own. Rasa takes the token only on its command line,
where local users may read it while the process runs (`ps`); it dies with the process and is worth
nothing to the next one. Without `hidepid` on /proc that is the residual exposure.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 180.0
# Quiet, and offline: telemetry would try to reach the internet.
# gridbot's own Rasa components (nlu_components/gridbot_classifier.py), imported by module path by
# `rasa train` and `rasa run`; the BLAS thread pools stay at one thread (two cores: the bot and Rasa share them).
COMPONENTS = Path(__file__).resolve().parents[2] / "nlu_components"
RASA_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(COMPONENTS), os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RasaProcess:
    def __init__(self, rasa_bin: Path, model: Path, port: int, log_file: Path, auth_token: str | None = None) -> None:
        self.rasa_bin = rasa_bin
        self.auth_token = auth_token or secrets.token_urlsafe(32)
        self.model = model
        self.port = port or free_port()
        self.log_file = log_file
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._stopping = False
        await self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="rasa-supervisor")

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while asyncio.get_running_loop().time() < deadline:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    response = await client.get(f"{self.url}/status", params={"token": self.auth_token})
                    if response.status_code == 200 and response.json().get("model_file"):
                        return True
                await asyncio.sleep(0.5)
        return False

    async def stop(self) -> None:
        self._stopping = True
        if self._watch:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        proc = self._proc
        if proc and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def _spawn(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_file.open("ab")
        env = {**os.environ, **RASA_ENV}
        self._proc = await asyncio.create_subprocess_exec(
            str(self.rasa_bin), "run", "--enable-api",
            "--model", str(self.model),
            "--interface", "127.0.0.1", "--port", str(self.port),
            f"--auth-token={self.auth_token}",  # one argument: a token may start with "-" (1 in 64 urlsafe ones)
            stdout=out, stderr=asyncio.subprocess.STDOUT, env=env,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        out.close()
        log.info("rasa started (pid %s) on %s, log %s", self._proc.pid, self.url, self.log_file)

    async def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            self.restarts += 1
            log.error("rasa exited with %s; restarting in %.0f s (restart #%d)", code, backoff, self.restarts)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            await self._spawn()
