"""Run labelled rows through an NLU stack and score them; print the report the `nlu eval` CLI shows."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from bot.interpret import Situation, route, understood
from bot.nlu.metrics import Prediction, Row, Scores, score
from bot.nlu.port import Entity, Nlu, Parse
from tickets.directory import Person, Role

_DRAFT = re.compile(r"draft:\s*(\w+)")


class EvalDataError(ValueError):
    pass


def read_rows(path: Path, all_rows: bool = False, split: str = "test") -> list[Row]:
    """`text,label[,entities,role,context,note]` CSV. With a `confidence` column only `high` rows
    count unless all_rows; with a `split` column only the rows of `split` (`all`: every row)."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise EvalDataError(f"{path}: needs a header with `text` and `label` columns")
            rows = [
                _row(r, path, n)
                for n, r in enumerate(reader, start=2)
                if (all_rows or _confident(r)) and split in ("all", r.get("split") or split)
            ]
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
    return Row(record["text"] or "", (record["label"] or "").strip(), entities, (record.get("role") or "").strip(),
               (record.get("context") or "").strip(), (record.get("note") or "").strip())  # fmt: skip


async def predict(
    nlu: Nlu, rows: Sequence[Row], is_report: Callable[[str], bool] = lambda i: i.startswith("report_"),
    progress: Callable[[int], None] | None = None,
) -> list[Prediction]:  # fmt: skip
    """Each row through the NLU stack and the dialogue layer, in the row's situation (who speaks,
    what it replies to, what the bot waits for): the intent the bot would act on."""
    out = []
    for n, row in enumerate(rows, start=1):
        started = time.perf_counter()
        parsed: Parse = await nlu.parse(row.text)
        elapsed_ms = (time.perf_counter() - started) * 1000
        situation = situation_of(row, is_report)
        key = route(parsed, row.text, situation, is_report)
        intent = understood(key, parsed, row.text, situation)
        out.append(Prediction(intent, parsed.entities, parsed.source, elapsed_ms, parsed.urgent, key.value,
                              parsed.confidence, parsed.intent))  # fmt: skip
        if progress and n % 50 == 0:
            progress(n)
    return out


def situation_of(row: Row, is_report: Callable[[str], bool]) -> Situation:
    """The row's role and context as the dialogue layer sees them. Awaiting a place, the draft's
    type is the one the row's note names (`draft: report_water`), else the row's own label when the
    row answers the question (the labelling convention of such rows), else unknown."""
    role = {"worker": Role.WORKER, "officer": Role.OFFICER}.get(row.role)
    sender = Person("eval-staff", "网格员", role, "eval") if role else None
    draft = None
    if row.context == "awaiting_location":
        named = _DRAFT.search(row.note)
        answers = "answer" in row.note and "not an answer" not in row.note
        draft = named.group(1) if named else (row.label if answers and is_report(row.label) else "report_unknown")
    return Situation(
        sender=sender,
        replies_to_ticket=row.context == "reply_to_ticket_post",
        awaiting_location=draft,
        awaiting_feedback=row.context == "after_resolve",
    )


async def evaluate(nlu: Nlu, rows: Sequence[Row], is_report: Callable[[str], bool]) -> Scores:
    return score(rows, await predict(nlu, rows, is_report), is_report)


def write_errors(path: Path, rows: Sequence[Row], predictions: Sequence[Prediction], every: bool = False) -> int:
    """The misread rows (every row with `every`) as CSV, for error analysis; returns how many."""
    pairs = [(r, p) for r, p in zip(rows, predictions, strict=True) if every or r.label != p.intent]
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["text", "label", "predicted", "source", "route", "model_intent", "confidence", "role", "context"])
        out.writerows([r.text, r.label, p.intent, p.source, p.route, p.model_intent, f"{p.confidence:.3f}", r.role,
                       r.context] for r, p in pairs)  # fmt: skip
    return len(pairs)


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
    lines += ["", _reading_report(stack, baseline)]
    lines += ["", "floors:"]
    for name, (value, floor, met) in stack.floors().items():
        lines.append(f"  {name:28s} {_fmt(value):>6s} >= {floor:.2f}  {'met' if met else 'NOT MET'}")
    lines += ["", "most frequent confusions (gold -> predicted):"]
    lines += [f"  {n:4d}  {g} -> {p}" for g, p, n in stack.confusions]
    return "\n".join(lines)


def _reading_report(stack: Scores, baseline: Scores | None) -> str:
    """The whole reading: accuracy per role and context, chatter, asks, emergencies, coarse confusions."""
    lines = [f"{'reading (NLU + dialogue layer)':44s} {'bot stack':>10s} {'keywords':>10s}"]
    lines.append(
        f"{'intent accuracy':44s} {_fmt(stack.accuracy):>10s} {_fmt(getattr(baseline, 'accuracy', None)):>10s}"
    )
    for role, value in stack.accuracy_by_role.items():
        base = (baseline.accuracy_by_role if baseline else {}).get(role)
        lines.append(f"{'  role ' + role:44s} {_fmt(value):>10s} {_fmt(base):>10s}")
    for context, value in stack.accuracy_by_context.items():
        base = (baseline.accuracy_by_context if baseline else {}).get(context)
        lines.append(f"{'  context ' + context:44s} {_fmt(value):>10s} {_fmt(base):>10s}")
    chatter = getattr(baseline, "chatter_never_ticketed", None)
    lines.append(f"{'chatter (chitchat + other) never ticketed':44s} {_fmt(stack.chatter_never_ticketed):>10s} "
                 f"{_fmt(chatter):>10s}")  # fmt: skip
    lines.append(f"{'asked the sender (您是要反映…吗)':42s} {stack.ask_rate:>10.3f}")
    if stack.emergencies:
        lines.append(f"{'emergencies taken (recall)':44s} {_fmt(stack.emergency_recall):>10s}   of {stack.emergencies}")
    if stack.false_alarms:
        lines.append(f"{'false alarms paged':44s} {stack.false_alarms_paged:>10d}   of {stack.false_alarms}")
    classes = sorted({c for row in stack.coarse.values() for c in row} | set(stack.coarse))
    lines += ["", "confusion (gold class → what the bot took it for):", "  " + f"{'':12s}" +
              "".join(f"{c[:10]:>11s}" for c in classes)]  # fmt: skip
    for gold in classes:
        row = stack.coarse.get(gold, {})
        lines.append("  " + f"{gold[:12]:12s}" + "".join(f"{row.get(c, 0):>11d}" for c in classes))
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
        return Parse(
            data["intent"], data["confidence"], entities, data["source"], data.get("report_hint"),
            bool(data.get("urgent")), tuple(data.get("ranking") or ()), float(data.get("hint_confidence") or 0),
            data.get("prior") or "", data.get("emergency") or "",
        )  # fmt: skip

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        await self._client.aclose()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


__all__ = ["ApiNlu", "EvalDataError", "evaluate", "predict", "read_rows", "report", "write_errors"]
