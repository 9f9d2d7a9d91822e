"""Compare NLU pipelines: train each (timed, in a scratch model cache, cut off after --budget
minutes), then score the whole reading (Rasa + keyword fallback + notices + emergency layer +
the dialogue layer in each row's role and context) on every labelled CSV given.

    .venv/bin/python bench/nlu_pipelines.py --data config/corpus/groupchat.csv ../shared/eval/dev.csv \
        ../shared/eval/groupchat_dev.csv --pipelines logreg words wide diet

Prints a Markdown table (the one in README "NLU quality"). Only confidence=high rows are used; of a
file with a `split` column only its test rows.
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


async def one(settings: Settings, pipeline: str, data: list[Path], cache: Path, budget_min: float) -> list[str]:
    build = prepare(settings.intents, pipeline, cache)
    started = time.monotonic()
    try:
        await asyncio.wait_for(train(build, settings.rasa_bin), budget_min * 60)
    except TimeoutError:
        line = (
            f"| {pipeline} | — | > {budget_min:.0f} | not measured: training broke the {budget_min:.0f}-minute budget |"
        )
        print(line, flush=True)
        return [line]
    minutes = (time.monotonic() - started) / 60
    process = RasaProcess(settings.rasa_bin, build.model, free_port(), cache / f"rasa-{pipeline}.log")
    await process.start()
    assert await process.wait_ready(), f"rasa did not start for {pipeline}"
    rasa = RasaNlu(process.url, 30.0, token=process.auth_token)
    stack = FallbackNlu(rasa, RulesNlu(build.catalog), settings.nlu_threshold)
    lines = []
    try:
        for path in data:
            rows = read_rows(path)
            full = await evaluate(stack, rows, build.catalog.is_report)
            roles = " / ".join(f"{v:.3f}" for v in full.accuracy_by_role.values())
            lines.append(
                f"| {pipeline} | {path.name} ({len(rows)}) | {minutes:.1f} | {full.accuracy:.3f} | {roles} | "
                f"{_f(full.chatter_never_ticketed)} | {full.ticket_f1:.3f} | "
                f"{full.report_macro_f1:.3f} ({len(full.report_types)}) | {_f(full.emergency_recall)} | "
                f"{_f(full.entity.f1 if full.entity else None)} | {full.latency_p95_ms:.0f} |"
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
    ap.add_argument("--pipelines", nargs="+", default=["logreg", "words", "wide", "diet"])
    ap.add_argument("--budget", type=float, default=5.0, help="training minutes allowed per pipeline")
    args = ap.parse_args()
    settings = Settings()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  intents: {settings.intents}")
    print("| pipeline | data (rows) | train min | accuracy | by role (officer / resident / worker) | chatter kept out"
          " | ticket F1 | report macro-F1 (types) | emergencies | entity F1 | p95 ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="gridbot-bench-") as scratch:
        for pipeline in args.pipelines:
            await one(settings, pipeline, args.data, Path(scratch), args.budget)


if __name__ == "__main__":
    asyncio.run(main())
