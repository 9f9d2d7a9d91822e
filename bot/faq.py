"""Answers to common questions (常见问题), from the admin-owned `config/faq.yaml`. Pure matching.

`load_faq` reads and validates the file; errors name the file and the entry.

An entry matches when every one of its keyword groups has a hit in the question; the entry with
the most groups (the most specific) wins, ties go to the earlier entry. Unmatched questions go to
the grid worker as a consult case.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    groups: tuple[tuple[str, ...], ...]  # every group needs one hit
    answer: str

    def matches(self, text: str) -> bool:
        return all(any(word in text for word in group) for group in self.groups)


class FaqError(ValueError):
    pass


@dataclass(frozen=True)
class Faq:
    entries: tuple[FaqEntry, ...] = ()

    def match(self, text: str) -> FaqEntry | None:
        hits = [e for e in self.entries if e.matches(text)]
        return max(hits, key=lambda e: len(e.groups), default=None)


def load_faq(path: Path) -> Faq:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return parse_faq(data.get("faq") or [])
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise FaqError(f"{path}: {exc}") from exc
    except FaqError as exc:
        raise FaqError(f"{path}: {exc}") from exc


def parse_faq(raw: list[Any]) -> Faq:
    entries, seen = [], set()
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise FaqError(f"entry {n} is not a mapping")
        entry_id = str(item.get("id") or "").strip()
        if not entry_id or entry_id in seen:
            raise FaqError(f"entry {n}: needs a unique `id` (got {entry_id!r})")
        seen.add(entry_id)
        groups = item.get("keywords")
        if not isinstance(groups, list) or not groups:
            raise FaqError(f"entry {entry_id!r}: `keywords` is a list of keyword groups, e.g. [[社保], [交, 缴]]")
        parsed = tuple(_group(g, entry_id) for g in groups)
        answer = str(item.get("answer") or "").strip()
        if not answer:
            raise FaqError(f"entry {entry_id!r}: `answer` is empty")
        entries.append(FaqEntry(entry_id, str(item.get("question") or ""), parsed, answer))
    return Faq(tuple(entries))


def _group(group: Any, entry_id: str) -> tuple[str, ...]:
    words = [group] if isinstance(group, str) else group
    if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise FaqError(f"entry {entry_id!r}: keyword group {group!r} must be a word or a list of words")
    return tuple(w.strip() for w in words)
