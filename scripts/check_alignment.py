"""Count annotated entity spans that jieba's tokens do not line up with (Rasa drops those, warning
"Misaligned entity annotation"). Run with Rasa's Python on a generated project:

    .venv-rasa/bin/python scripts/check_alignment.py ~/.cache/gridbot/models/projects/VERSION
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jieba
import yaml

MARKUP = re.compile(r"\[([^\]]+)\]\((\w+)\)")


def main(project: Path) -> None:
    jieba.setLogLevel(60)
    jieba.load_userdict(str(project / "jieba" / "userdict.txt"))
    data = yaml.safe_load((project / "data" / "nlu.yml").read_text(encoding="utf-8"))
    spans = misaligned = 0
    for item in data["nlu"]:
        for line in str(item.get("examples") or "").splitlines() if "intent" in item else []:
            text, bounds, at = "", [], 0
            example = line[2:]
            for m in MARKUP.finditer(example):
                text += example[at : m.start()]
                bounds.append((len(text), len(text) + len(m.group(1))))
                text += m.group(1)
                at = m.end()
            text += example[at:]
            edges = {0} | {end for _, _, end in jieba.tokenize(text)} | {start for _, start, _ in jieba.tokenize(text)}
            spans += len(bounds)
            misaligned += sum(1 for s, e in bounds if s not in edges or e not in edges)
    print(f"{spans} annotated spans, {misaligned} misaligned with jieba's tokens")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
