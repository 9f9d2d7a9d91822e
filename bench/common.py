"""Shared by the benchmarks: a throw-away PostgreSQL database, a generated county-sized grid, a
real bot process, percentiles."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("GRIDBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("GRIDBOT_BENCH_REDIS", "redis://127.0.0.1:6379/0")
TOKEN = "bench-token"


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Database:
    """A throw-away database (`name`: an existing one, kept; `drop=False`: keep the new one too)."""

    def __init__(self, name: str | None = None, drop: bool = True) -> None:
        self.existing = name is not None
        self.name = name or f"gridbot_bench_{uuid.uuid4().hex[:8]}"
        self.url = f"{PG.rsplit('/', 1)[0]}/{self.name}"
        self.drop = drop and not self.existing

    def __enter__(self) -> Database:
        if not self.existing:
            asyncio.run(_pg(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_: object) -> None:
        if self.drop:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def county(grids: int) -> dict[str, object]:
    """One district, 10 townships, 10 communities each, `grids` micro-grids spread over them."""
    per_community = max(1, grids // 100)
    townships = []
    for t in range(10):
        communities = []
        for c in range(10):
            cid = f"c{t}-{c}"
            cells = [_grid(t, c, g) for g in range(per_community)]
            communities.append({"id": cid, "name": f"第{t}街道第{c}社区", "grids": cells,
                                "officers": [{"id": f"o-{cid}", "name": f"社区书记{t}{c}"}]})  # fmt: skip
        townships.append({"id": f"t{t}", "name": f"第{t}街道", "communities": communities,
                          "officers": [{"id": f"o-t{t}", "name": f"街道主任{t}"}]})  # fmt: skip
    return {"district": {"id": "county", "name": "示范县", "townships": townships,
                         "officers": [{"id": "o-county", "name": "县指挥中心"}]},
            "departments": [{"id": "cg", "name": "城管局", "people": [{"id": "d-cg", "name": "科长"}], "types": []}],
            "admins": [{"id": "admin", "name": "管理员"}]}  # fmt: skip


def _grid(t: int, c: int, g: int) -> dict[str, object]:
    key = f"{t}-{c}-{g}"
    return {"id": f"g{key}", "name": f"第{t}街道第{c}社区第{g}网格", "chat_id": f"g{key}",
            "workers": [{"id": f"w{key}", "name": f"网格员{t}{c}{g}"}]}  # fmt: skip


def chats_of(document: dict[str, object]) -> list[str]:
    out: list[str] = []
    district = document["district"]
    assert isinstance(district, dict)
    for t in district["townships"]:
        for c in t["communities"]:
            out += [g["chat_id"] for g in c["grids"]]
    return out


def write_county(path: Path, grids: int) -> list[str]:
    document = county(grids)
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return chats_of(document)


class Bot:
    """`run_bot.py serve` in its own process (the process measured)."""

    def __init__(self, env: dict[str, str], log: Path, port: int = 8765) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "GRIDBOT_PORT": str(port), "GRIDBOT_API_TOKEN": TOKEN, "GRIDBOT_LOG_LEVEL": "WARNING",
                    **env}  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 600) -> float:
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "run_bot.py"), "serve"], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=out)  # fmt: skip
        while time.monotonic() - started < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bot exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("bot did not become healthy")

    def rss_mb(self) -> float:
        """Resident memory of the bot process alone (not its Rasa child)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the bot process has used so far (not its Rasa child)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def python_speed_ms() -> float:
    """One fixed pure-Python workload, best of 5 (ms): how fast this host's CPU is right now."""

    def workload() -> float:
        started = time.perf_counter()
        sum(len(str(i) * 3) for i in range(300_000))
        return (time.perf_counter() - started) * 1000

    return min(workload() for _ in range(5))


def host_speed(url: str) -> str:
    """How fast this host is, so runs on different hosts can be compared: one fixed pure-Python
    workload (best of 5) and the median durable commit of a one-row insert on `url` (fsync)."""
    python_ms = python_speed_ms()
    commit_ms = asyncio.run(_commit_ms(url))
    return f"host: python workload {python_ms:.0f} ms (best of 5), PostgreSQL durable commit p50 {commit_ms:.2f} ms"


async def _commit_ms(url: str, runs: int = 200) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE host_speed (n int)")  # not TEMP: temporary tables skip the WAL
        times = []
        for n in range(runs):
            started = time.perf_counter()
            await conn.execute("INSERT INTO host_speed VALUES ($1)", n)
            times.append((time.perf_counter() - started) * 1000)
        return pct(times, 50)
    finally:
        await conn.execute("DROP TABLE IF EXISTS host_speed")
        await conn.close()


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]
