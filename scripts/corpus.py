"""Build and use gridbot's own group-chat corpus (config/corpus/).

    python scripts/corpus.py build     raw/*.csv → groupchat.csv (entities as JSON spans, a fixed split)
    python scripts/corpus.py merge     write the train split into config/intents/*.yaml as examples

The raw files are what the corpus writers produced (`type=value|…` entities). `groupchat.csv`
is the corpus: `text,label,role,context,entities,note,split`. The split is fixed by a hash of the
text (a quarter is `test`), so it never changes when rows are added, and the test rows are never
trained on: `merge` writes only `train` rows, and only those whose label does not depend on a
context (a resident's `收到` is chatter, a worker's reply `收到` accepts: the dialogue layer decides).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "config" / "corpus"
INTENTS = ROOT / "config" / "intents"
COLUMNS = ["text", "label", "role", "context", "entities", "note", "split"]


def split_of(text: str) -> str:
    return "test" if int(hashlib.sha1(text.encode()).hexdigest(), 16) % 4 == 0 else "train"


def spans(text: str, raw: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    at = 0
    for pair in filter(None, raw.split("|")):
        kind, value = pair.split("=", 1)
        start = text.find(value, at)
        if start < 0:
            start = text.find(value)
        if start < 0:
            raise ValueError(f"{value!r} not in {text!r}")
        out.append({"entity": kind, "start": start, "end": start + len(value), "value": value})
        at = start + len(value)
    return out


def build() -> None:
    seen: set[str] = set()
    rows = []
    for path in sorted((CORPUS / "raw").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                text = r["text"].strip()
                if not text or text in seen:
                    continue
                seen.add(text)
                entities = json.dumps(spans(text, r["entities"].strip()), ensure_ascii=False)
                rows.append([text, r["label"], r["role"], r["context"], entities, r["note"], split_of(text)])
    with (CORPUS / "groupchat.csv").open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        out.writerows(rows)
    tests = sum(1 for r in rows if r[-1] == "test")
    print(f"{len(rows)} rows ({tests} test, {len(rows) - tests} train) → {CORPUS / 'groupchat.csv'}")


def annotated(text: str, entities: list[dict[str, object]]) -> str:
    """Rasa's inline markup: `[3号楼](building)漏水`."""
    out, at = [], 0
    for e in sorted(entities, key=lambda e: int(str(e["start"]))):
        start, end = int(str(e["start"])), int(str(e["end"]))
        if start < at:
            continue
        out += [text[at:start], f"[{text[start:end]}]({e['entity']})"]
        at = end
    return "".join([*out, text[at:]])


def clean(text: str) -> str:
    """One line, no characters that Rasa's markup or YAML list items would misread."""
    return " ".join(text.replace("[", "【").replace("]", "】").split())


def in_fold(text: str, fold: str) -> bool:
    """`k/n`: the k-th of n folds of the train split (by a hash of the text), for cross-validation."""
    k, n = (int(x) for x in fold.split("/"))
    return int(hashlib.md5(text.encode()).hexdigest(), 16) % n == k


def _examples(flat: bool, hold_out: str | None = None) -> dict[str, Any]:
    """The train split's rows with no context as intent examples (Rasa markup), by label; with
    `flat`, text → example for every train row."""
    with (CORPUS / "groupchat.csv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train" and not r["context"]]
    if hold_out:
        rows = [r for r in rows if not in_fold(r["text"], hold_out)]
    by_label: dict[str, list[str]] = {}
    flat_map: dict[str, str] = {}
    for r in rows:
        text = clean(r["text"])
        entities = [e for e in json.loads(r["entities"]) if e["value"] in text]
        for e in entities:  # offsets moved by clean(): find the values again
            e["start"] = text.find(str(e["value"]))
            e["end"] = int(e["start"]) + len(str(e["value"]))
        example = annotated(text, [e for e in entities if int(e["start"]) >= 0])
        by_label.setdefault(r["label"], []).append(example)
        flat_map[r["text"]] = example
    return flat_map if flat else by_label


def merge(target: Path = INTENTS, hold_out: str | None = None) -> None:
    """Write the train split (less the held-out fold, if any) into the intent files under `target`."""
    by_label = _examples(False, hold_out)
    added = 0
    for label, examples in sorted(by_label.items()):
        path = target / f"{label}.yaml"
        source = path.read_text(encoding="utf-8")
        doc = yaml.safe_load(source)
        have = {line[2:].strip() for line in str(doc.get("examples") or "").splitlines() if line.startswith("- ")}
        new = [e for e in dict.fromkeys(examples) if e not in have]
        if not new:
            continue
        block = "".join(f"  - {e}\n" for e in new)
        marker = "examples: |\n"
        if marker not in source:
            raise SystemExit(f"{path}: no `examples: |` block to extend")
        head, tail = source.split(marker, 1)
        path.write_text(head + marker + tail.rstrip("\n") + "\n" + block, encoding="utf-8")
        added += len(new)
    print(f"merged {added} train examples from the corpus into {target}")


def fold(target: str, hold_out: str) -> None:
    """A copy of the shipped intents (as in git: no corpus rows) plus the train split less one fold,
    and that fold as an eval file: `python scripts/corpus.py fold /tmp/cv 0/3`."""
    out = Path(target)
    (out / "intents").mkdir(parents=True, exist_ok=True)
    corpus = set(_examples(True).values()) | {e for es in _examples(False).values() for e in es}
    for path in INTENTS.glob("*.yaml"):  # the shipped intents less every example the corpus gave them
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not (line.startswith("  - ") and line[4:].rstrip("\n") in corpus)]
        (out / "intents" / path.name).write_text("".join(kept), encoding="utf-8")
    merge(out / "intents", hold_out)
    with (CORPUS / "groupchat.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        held = [r for r in reader if r["split"] == "train" and in_fold(r["text"], hold_out)]
    with (out / "fold.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({**r, "split": "test"} for r in held)
    print(f"{len(held)} held-out rows → {out / 'fold.csv'}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "build"
    if command == "fold":
        fold(sys.argv[2], sys.argv[3])
    else:
        {"build": build, "merge": merge}[command]()
