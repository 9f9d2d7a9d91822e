"""Generate the Rasa project (config.yml, domain.yml, data/nlu.yml, jieba dictionary) from the catalog.

The output is deterministic, so its hash names the model trained from it: the same intents and
pipeline always map to the same model file, and any edit gives a new version.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

import yaml

from bot.nlu.catalog import ENTITY_NAMES, Catalog
from bot.nlu.rasa_process import COMPONENTS

PIPELINES = Path(__file__).resolve().parent / "pipelines"
ROOT = PIPELINES.parents[2]
JIEBA_FREQ = 3000
_ANNOTATED = re.compile(r"\[([^\]]+)\]\(\w+\)")


def pipeline_path(name: str) -> Path:
    path = PIPELINES / f"{name}.yml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PIPELINES.glob("*.yml")))
        raise FileNotFoundError(f"unknown NLU pipeline {name!r}; known: {known}")
    return path


def project_files(catalog: Catalog, pipeline: str) -> dict[str, str]:
    """Relative path → text of every file of the Rasa project."""
    return {
        "config.yml": pipeline_path(pipeline).read_text(encoding="utf-8"),
        "domain.yml": domain_yml(catalog),
        "data/nlu.yml": nlu_yml(catalog),
        "jieba/userdict.txt": jieba_dict(catalog),
        # A copy of gridbot's Rasa components: their code is part of the version (Rasa imports
        # them from COMPONENTS on its PYTHONPATH).
        **{f"components/{p.name}": p.read_text(encoding="utf-8") for p in sorted(COMPONENTS.glob("*.py"))},
    }


def files_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(files[name].encode())
    digest.update((ROOT / "requirements-rasa.txt").read_bytes())
    return digest.hexdigest()[:16]


def write_project(files: dict[str, str], target: Path) -> Path:
    """Write atomically: a half-written project never sits under its final name."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    for name, text in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    try:
        tmp.rename(target)
    except OSError:  # another process won the race: theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def domain_yml(catalog: Catalog) -> str:
    doc = {
        "version": "3.1",
        "intents": [s.intent for s in catalog.ordered()],
        "entities": list(ENTITY_NAMES),
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    }
    return "# Generated from config/intents/ by bot/nlu/generate.py. Do not edit.\n" + _dump(doc)


def nlu_yml(catalog: Catalog) -> str:
    items: list[dict[str, object]] = []
    for spec in catalog.ordered():
        items.append({"intent": spec.intent, "examples": _block(spec.examples)})
    for spec in catalog.ordered():
        for value, variants in spec.synonyms.items():
            if variants:
                items.append({"synonym": value, "examples": _block(variants)})
    for entity, patterns in catalog.shared.regexes.items():
        if patterns:
            items.append({"regex": entity, "examples": _block(patterns)})
    for entity, names in catalog.shared.lookups.items():
        if names:
            items.append({"lookup": entity, "examples": _block(names)})
    header = "# Generated from config/intents/ by bot/nlu/generate.py. Do not edit.\n"
    return header + _dump({"version": "3.1", "nlu": items})


def jieba_dict(catalog: Catalog) -> str:
    words: list[str] = list(catalog.shared.words)
    for spec in catalog.ordered():
        words += spec.keywords + spec.emergency
        for value, variants in spec.synonyms.items():
            words += (value, *variants)
    for names in catalog.shared.lookups.values():
        words += names
    # Annotated entity values are words of their own: jieba then cuts the example where the span
    # starts and ends, so Rasa keeps the annotation (a span inside a token is dropped as misaligned).
    words += [value for spec in catalog.ordered() for line in spec.examples for value in _ANNOTATED.findall(line)]
    usable = [w for w in dict.fromkeys(words) if len(w) > 1 and not any(c.isspace() for c in w)]
    return "".join(f"{w} {JIEBA_FREQ} n\n" for w in usable)


class _Block(str):
    pass


def _block(lines: tuple[str, ...]) -> _Block:
    return _Block("".join(f"- {line}\n" for line in lines))


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Block, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="|")
)


def _dump(doc: object) -> str:
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)
