"""Ingest through the real HTTP API (prints numbers; not a pass/fail test).

N micro-grid chats, M messages per second, open loop (a message is sent on schedule whether or not
the earlier ones were answered), for T seconds, into a real `run_bot.py serve` process on
PostgreSQL + Redis, with the keyword rules NLU or the real Rasa model. Each answer carries
`Server-Timing: nlu;dur=…`, so the bot's own share of every request (total − NLU parse) is
measured in the same run. A fifth of the messages are reports (tickets, outbox rows, worker pings),
the rest chatter, status questions and thanks, from many residents.

    .venv/bin/python bench/ingest.py --nlu rules --chats 1000 --rate 300 --seconds 30
    .venv/bin/python bench/ingest.py --nlu rasa --chats 1000 --rate 100 --seconds 30

Needs PostgreSQL (GRIDBOT_BENCH_PG) and Redis (GRIDBOT_BENCH_REDIS); creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REDIS, TOKEN, Bot, Database, host_speed, pct, write_county

REPORTS = ["{b}号楼门口的路灯坏了 晚上黑漆漆的", "{b}号楼楼道里堆满了垃圾没人清理", "{b}号楼楼上漏水漏到我家天花板了",
           "{b}号楼门口有辆车违停堵住消防通道了", "{b}号楼有人半夜装修 吵得睡不着"]  # fmt: skip
CHATTER = ["大家早上好", "今天天气真不错", "谢谢网格员的帮忙", "收到", "好的好的", "哈哈哈", "晚安各位", "👍👍"]
OTHER = ["我反映的问题处理得怎么样了", "辛苦了"]


def message(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return rng.choice(REPORTS).format(b=rng.randint(1, 40))
    return rng.choice(OTHER) if roll < 0.3 else rng.choice(CHATTER)


@dataclass
class Results:
    total_ms: list[float] = field(default_factory=list)
    nlu_ms: list[float] = field(default_factory=list)
    own_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    late_starts: int = 0


class Client:
    """A lean HTTP/1.1 keep-alive client for the load: the load runs on the same 2 cores as the
    bot, and aiohttp spent about 1.3 ms of CPU per request there, a third of what the bot did.
    Connections are opened on demand and reused; each carries one request at a time."""

    def __init__(self, url: str, limit: int = 200) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port or 80)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(limit)

    async def post(self, path: str, body: dict[str, str]) -> tuple[int, dict[str, str]]:
        payload = json.dumps(body, ensure_ascii=False).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()  # fmt: skip
        async with self.slots:
            reader, writer = await self._connection()
            try:
                writer.write(head + payload)
                status, headers = await asyncio.wait_for(self._response(reader), 30)
            except BaseException:
                writer.close()
                raise
            if headers.get("connection") == "close":
                writer.close()
            else:
                self.idle.append((reader, writer))
            return status, headers

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer = self.idle.pop()
            if not reader.at_eof():  # the server closes connections idle for 5 s
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        headers = {k.lower(): v for k, v in headers.items()}
        await reader.readexactly(int(headers.get("content-length", "0")))
        return int(lines[0].split(" ", 2)[1]), headers

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def send(client: Client, chat: str, sender: str, text: str, results: Results) -> None:
    started = time.perf_counter()
    try:
        status, headers = await client.post(f"/api/v1/chats/{chat}/messages", {"sender": sender, "text": text})
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        results.errors[type(exc).__name__] = results.errors.get(type(exc).__name__, 0) + 1
        return
    total = (time.perf_counter() - started) * 1000
    if status != 201:
        results.errors[str(status)] = results.errors.get(str(status), 0) + 1
        return
    nlu = float(headers.get("server-timing", "nlu;dur=0").split("dur=")[1])
    results.total_ms.append(total)
    results.nlu_ms.append(nlu)
    results.own_ms.append(total - nlu)


async def load(url: str, chats: list[str], rate: float, seconds: float, seed: int,
               make: Callable[[random.Random], str] = message) -> tuple[Results, float]:  # fmt: skip
    rng = random.Random(seed)
    results = Results()
    client = Client(url)
    tasks = []
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        due = started + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        elif pause < -0.05:
            results.late_starts += 1
        chat = rng.choice(chats)
        sender = f"居民{rng.randint(1, 60)}"
        tasks.append(asyncio.create_task(send(client, chat, sender, make(rng), results)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    client.close()
    return results, elapsed


def report(args: argparse.Namespace, results: Results, elapsed: float, rss: float) -> None:
    done = len(results.total_ms)
    print(f"nlu={args.nlu} chats={args.chats} offered={args.rate}/s for {args.seconds}s on PostgreSQL + Redis")
    print(f"  answered {done} of {int(args.rate * args.seconds)} in {elapsed:.1f} s → {done / elapsed:.0f} msg/s; "
          f"errors {results.errors or 0}; sends that left >50 ms late {results.late_starts}")  # fmt: skip
    for name, values in (("total", results.total_ms), ("nlu parse", results.nlu_ms), ("bot's own", results.own_ms)):
        print(f"  {name:10s} p50 {pct(values, 50):7.1f} ms   p99 {pct(values, 99):7.1f} ms   max {max(values):7.1f} ms")
    print(f"  bot RSS after the run: {rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nlu", choices=["rules", "rasa"], default="rules")
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5, help="seconds at the same rate first, not counted")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Database() as db:
        chats = write_county(Path(tmp) / "county.yaml", args.chats)
        env = {"GRIDBOT_DATABASE_URL": db.url, "GRIDBOT_REDIS_URL": REDIS, "GRIDBOT_NLU": args.nlu,
               "GRIDBOT_DIRECTORY": f"{tmp}/county.yaml", "GRIDBOT_VAR_DIR": f"{tmp}/var"}  # fmt: skip
        bot = Bot(env, Path(tmp) / "bot.log")
        host = host_speed(db.url)  # before the run: autovacuum and the dropped database load it after
        try:
            bot.start()
            asyncio.run(load(bot.url, chats, args.rate, args.warmup, args.seed + 1))
            cpu_before = bot.cpu_s()
            results, elapsed = asyncio.run(load(bot.url, chats, args.rate, args.seconds, args.seed))
            report(args, results, elapsed, bot.rss_mb())
            cpu_ms = (bot.cpu_s() - cpu_before) * 1000 / max(1, len(results.total_ms))
            print(f"  bot CPU per answered message: {cpu_ms:.2f} ms (it falls as the load rises: fewer wake-ups)")
            print(f"  {host}")
        finally:
            bot.stop()


if __name__ == "__main__":
    main()
