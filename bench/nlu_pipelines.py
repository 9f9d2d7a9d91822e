"""Compare NLU pipelines: train each (timed, in a scratch model cache), then score it through the bot's
stack (Rasa + keyword fallback + emergency layer) and Rasa alone, on every labelled CSV given.

    .venv/bin/python bench/nlu_pipelines.py --data config/nlu_test.csv ../shared/eval/dev.csv \
        --pipelines logreg words diet

Prints a Markdown table (the one in README "NLU quality"). Only confidence=high rows are used.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.nlu.chain import FallbackNlu
from bot.nlu.evaluate import evaluate, read_rows
from bot.nlu.rasa_client import RasaNlu
from bot.nlu.rasa_process import RasaProcess, free_port
from bot.nlu.rules import RulesNlu
from bot.nlu.training import prepare, train
from config.settings import Settings


async def one(settings: Settings, pipeline: str, data: list[Path], cache: Path) -> list[str]:
    build = prepare(settings.intents, pipeline, cache)
    started = time.monotonic()
    await train(build, settings.rasa_bin)
    minutes = (time.monotonic() - started) / 60
    process = RasaProcess(settings.rasa_bin, build.model, free_port(), cache / f"rasa-{pipeline}.log")
    await process.start()
    assert await process.wait_ready(), f"rasa did not start for {pipeline}"
    rasa = RasaNlu(process.url, 30.0)
    stack = FallbackNlu(rasa, RulesNlu(build.catalog), settings.nlu_threshold)
    lines = []
    try:
        for path in data:
            rows = read_rows(path)
            full = await evaluate(stack, rows, build.catalog.is_report)
            alone = await evaluate(rasa, rows, build.catalog.is_report)
            lines.append(
                f"| {pipeline} | {path.name} ({len(rows)}) | {minutes:.1f} | {full.ticket_f1:.3f} | "
                f"{full.report_macro_f1:.3f} ({len(full.report_types)}) | {full.macro_f1:.3f} | "
                f"{_f(full.chitchat_never_ticketed)} | {_f(full.entity.f1 if full.entity else None)} | "
                f"{alone.ticket_f1:.3f} | {alone.report_macro_f1:.3f} | {full.latency_p95_ms:.0f} |"
            )
            print(lines[-1], flush=True)
    finally:
        await rasa.aclose()
        await process.stop()
    return lines


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, nargs="+", required=True)
    ap.add_argument("--pipelines", nargs="+", default=["logreg", "words", "diet"])
    args = ap.parse_args()
    settings = Settings()
    print("| pipeline | data (rows) | train min | ticket F1 | report macro-F1 (types) | macro-F1 | chitchat kept out"
          " | entity F1 | Rasa alone ticket F1 | Rasa alone report macro-F1 | p95 ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="gridbot-bench-") as scratch:
        for pipeline in args.pipelines:
            await one(settings, pipeline, args.data, Path(scratch))


if __name__ == "__main__":
    asyncio.run(main())
