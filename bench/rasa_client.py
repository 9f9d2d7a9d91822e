"""The bot's CPU per Rasa parse: httpx (a client object, a request and a response per call) against
the kept-alive raw HTTP/1.1 pool `RasaNlu` uses (bot/nlu/http1.py), on the same real Rasa server.

    .venv/bin/python bench/rasa_client.py [--parses 2000] [--concurrency 4]

Starts our Rasa with the model of config/intents (trained if needed), warms up, then for each client
sends the same group-chat texts and prints the process CPU (user + system) per parse, the wall
time, and the date and the host's speed line. The CPU counted is this process's only: Rasa is a
separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import python_speed_ms
from bot.nlu.http1 import KeepAlivePool
from bot.nlu.rasa_process import RasaProcess, free_port
from bot.nlu.training import prepare, train
from config.settings import Settings

TEXTS = ["3号楼楼道的灯又不亮了", "收到", "好的 谢谢", "东门垃圾桶满了没人倒", "电梯又坏了", "明天几点停水啊",
         "大家早上好", "#12 已处理", "楼上装修太吵了 中午都不停", "下水道堵了 臭死了"]  # fmt: skip


async def measure(name: str, parse: Callable[[str], Awaitable[object]], parses: int, concurrency: int) -> None:
    queue = [TEXTS[i % len(TEXTS)] for i in range(parses)]

    async def worker() -> None:
        while queue:
            await parse(queue.pop())

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"figure": f"cpu_ms_per_parse_{name}", "value": round(cpu / parses * 1000, 3),
                      "wall_s": round(wall, 2), "parses": parses, "concurrency": concurrency}))  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parses", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    settings = Settings()
    speed = f"host: python workload {python_speed_ms():.0f} ms (best of 5)"
    print(json.dumps({"figure": "host", "date": time.strftime("%Y-%m-%d %H:%M"), "speed": speed}))
    build = prepare(settings.intents, settings.nlu_pipeline, settings.model_cache)
    await train(build, settings.rasa_bin)
    process = RasaProcess(settings.rasa_bin, build.model, free_port(), Path("/tmp/gridbot-bench-rasa.log"))
    await process.start()
    try:
        assert await process.wait_ready(), "rasa did not start"
        token = {"token": process.auth_token}  # its --auth-token
        async with httpx.AsyncClient(timeout=10) as client:

            async def via_httpx(text: str) -> object:
                response = await client.post(f"{process.url}/model/parse", params=token, json={"text": text})
                return response.json()

            pool = KeepAlivePool(process.url, query=urlencode(token))

            async def via_pool(text: str) -> object:
                _, body = await pool.post_json("/model/parse", json.dumps({"text": text}).encode(), 10)
                return json.loads(body)

            await measure("warmup", via_pool, 200, args.concurrency)
            for _ in range(2):  # alternate, so a minute of a slow host does not favour one
                await measure("httpx", via_httpx, args.parses, args.concurrency)
                await measure("raw_pool", via_pool, args.parses, args.concurrency)
            await pool.aclose()
    finally:
        await process.stop()


if __name__ == "__main__":
    asyncio.run(main())
