"""Run labelled rows through an NLU stack and score them; print the report the `nlu eval` CLI shows."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from bot.nlu.metrics import Prediction, Row, Scores, score
from bot.nlu.port import Entity, Nlu, Parse


class EvalDataError(ValueError):
    pass


def read_rows(path: Path, all_rows: bool = False) -> list[Row]:
    """`text,label[,entities]` CSV; with a `confidence` column only `high` rows count unless all_rows."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise EvalDataError(f"{path}: needs a header with `text` and `label` columns")
            rows = [_row(r, path, n) for n, r in enumerate(reader, start=2) if all_rows or _confident(r)]
    except OSError as exc:
        raise EvalDataError(f"{path}: {exc}") from exc
    if not rows:
        raise EvalDataError(f"{path}: no rows to evaluate")
    return rows


def _confident(record: dict[str, str]) -> bool:
    return (record.get("confidence") or "high").strip() == "high"


def _row(record: dict[str, str], path: Path, line: int) -> Row:
    raw = (record.get("entities") or "").strip()
    try:
        spans = json.loads(raw) if raw else []
        entities = tuple(Entity(str(e["entity"]), int(e["start"]), int(e["end"]), str(e["value"])) for e in spans)
    except (ValueError, KeyError, TypeError) as exc:
        raise EvalDataError(f"{path}:{line}: bad `entities` JSON: {exc}") from exc
    return Row(record["text"] or "", (record["label"] or "").strip(), entities)


async def predict(nlu: Nlu, rows: Sequence[Row], progress: Callable[[int], None] | None = None) -> list[Prediction]:
    out = []
    for n, row in enumerate(rows, start=1):
        started = time.perf_counter()
        parsed: Parse = await nlu.parse(row.text)
        out.append(Prediction(parsed.intent, parsed.entities, parsed.source, (time.perf_counter() - started) * 1000))
        if progress and n % 50 == 0:
            progress(n)
    return out


async def evaluate(nlu: Nlu, rows: Sequence[Row], is_report: Callable[[str], bool]) -> Scores:
    return score(rows, await predict(nlu, rows), is_report)


def write_errors(path: Path, rows: Sequence[Row], predictions: Sequence[Prediction]) -> int:
    """The misread rows as CSV (`text,label,predicted,source`), for error analysis; returns how many."""
    wrong = [(r, p) for r, p in zip(rows, predictions, strict=True) if r.label != p.intent]
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["text", "label", "predicted", "source"])
        out.writerows([r.text, r.label, p.intent, p.source] for r, p in wrong)
    return len(wrong)


def report(stack: Scores, baseline: Scores | None = None, title: str = "gridbot NLU") -> str:
    """The human-readable table: per-intent P/R/F1, the summary numbers beside the keyword baseline."""
    lines = [f"{title}: {stack.rows} rows   sources: {stack.sources}", ""]
    lines.append(f"{'intent':30s} {'prec':>6s} {'recall':>6s} {'F1':>6s} {'rows':>5s}")
    for intent, prf in stack.per_intent.items():
        lines.append(f"{intent:30s} {prf.precision:6.3f} {prf.recall:6.3f} {prf.f1:6.3f} {prf.support:5d}")
    lines += ["", f"{'':44s} {'bot stack':>10s} {'keywords':>10s}"]
    types = len(stack.report_types)
    for label, key in [
        ("macro-F1 (all intents in the file)", "macro_f1"),
        (f"macro-F1 (report types with >= 15 rows: {types})", "report_macro_f1"),
        ("ticket / no-ticket F1", "ticket_f1"),
        ("chitchat never ticketed", "chitchat_never_ticketed"),
    ]:
        lines.append(f"{label:44s} {_fmt(getattr(stack, key)):>10s} {_fmt(getattr(baseline, key, None)):>10s}")
    entity_f1 = stack.entity.f1 if stack.entity else None
    lines.append(f"{'entity F1 (exact span)':44s} {_fmt(entity_f1):>10s}")
    lines.append(f"{'parse latency p50 / p95 (ms)':44s} {stack.latency_p50_ms:>5.1f} / {stack.latency_p95_ms:.1f}")
    lines += ["", "floors:"]
    for name, (value, floor, met) in stack.floors().items():
        lines.append(f"  {name:28s} {_fmt(value):>6s} >= {floor:.2f}  {'met' if met else 'NOT MET'}")
    lines += ["", "most frequent confusions (gold -> predicted):"]
    lines += [f"  {n:4d}  {g} -> {p}" for g, p, n in stack.confusions]
    return "\n".join(lines)


class ApiNlu:
    """Parse through a running bot's `POST /api/v1/nlu/parse` (latency as the bot's clients see it)."""

    def __init__(self, base_url: str, token: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    async def parse(self, text: str) -> Parse:
        response = await self._client.post("/api/v1/nlu/parse", json={"text": text})
        if response.status_code != 200:
            return Parse("error", 0.0, (), f"http {response.status_code}")
        data = response.json()
        entities = tuple(Entity(e["entity"], e["start"], e["end"], e["value"]) for e in data["entities"])
        return Parse(data["intent"], data["confidence"], entities, data["source"])

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        await self._client.aclose()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


__all__ = ["ApiNlu", "EvalDataError", "evaluate", "predict", "read_rows", "report", "write_errors"]
