"""Measure the bot's NLU through its own HTTP API on a labelled CSV (`text,label[,confidence,...]`).

    .venv/bin/python bench/nlu_dev.py ../shared/eval/dev.csv --url http://127.0.0.1:8000 --token TOKEN

Prints ticket/no-ticket F1 (report_* = ticket), macro-F1 over report types with ≥ 15 rows,
chitchat rejection, and parse latency p50/p95 measured at the client. Only `confidence=high`
rows are used when the column exists. (Issue 3 turns this into `run_bot.py nlu eval`.)
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import Counter

import httpx


def f1(tp: int, fp: int, fn: int) -> float:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--token", required=True)
    args = ap.parse_args()
    with open(args.csv, encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("confidence", "high") == "high"]
    client = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=10)
    gold, pred, latency, sources = [], [], [], Counter()
    for row in rows:
        started = time.perf_counter()
        result = client.post("/api/v1/nlu/parse", json={"text": row["text"]}).json()
        latency.append((time.perf_counter() - started) * 1000)
        gold.append(row["label"])
        pred.append(result["intent"])
        sources[result["source"]] += 1
    ticket = [(g.startswith("report_"), p.startswith("report_")) for g, p in zip(gold, pred, strict=True)]
    tf1 = f1(sum(g and p for g, p in ticket), sum(p and not g for g, p in ticket), sum(g and not p for g, p in ticket))
    counts = Counter(gold)
    types = sorted(t for t in counts if t.startswith("report_") and counts[t] >= 15)
    per_type = {
        t: f1(
            sum(g == p == t for g, p in zip(gold, pred, strict=True)),
            sum(p == t != g for g, p in zip(gold, pred, strict=True)),
            sum(g == t != p for g, p in zip(gold, pred, strict=True)),
        )
        for t in types
    }
    chat = [p for g, p in zip(gold, pred, strict=True) if g == "chitchat"]
    latency.sort()
    print(f"rows: {len(rows)}  sources: {dict(sources)}")
    print(f"ticket/no-ticket F1: {tf1:.3f}")
    print(f"macro-F1 over {len(types)} report types with >= 15 rows: {statistics.mean(per_type.values()):.3f}")
    for t, score in per_type.items():
        print(f"  {t:32s} {score:.3f}  (n={counts[t]})")
    print(f"chitchat never ticketed: {sum(not p.startswith('report_') for p in chat) / max(len(chat), 1):.3f}")
    p50, p95 = latency[len(latency) // 2], latency[int(len(latency) * 0.95)]
    print(f"parse latency via HTTP: p50 {p50:.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
