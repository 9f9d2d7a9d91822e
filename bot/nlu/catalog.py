"""The intent catalog: one YAML file per intent under config/intents/, plus `_shared.yaml`.

An intent file holds what admins edit: the Chinese display name, training examples, keywords,
regexes, synonyms, emergency phrases, and — for incident reports — what a report means
operationally (`ticket:` severity, policy, department). Everything the NLU needs is generated
from these files (see `bot/nlu/generate.py`); nothing about the taxonomy is hard-coded except
the follow-up intents the bot's handlers act on (`BUILTIN`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tickets.subtypes import Subtype, SubtypeError, parse_deadline

# Intents the handlers act on: they may be edited (examples, keywords) but not removed.
BUILTIN = (
    "consult",
    "chitchat",
    "ask_status",
    "cancel_report",
    "worker_accept",
    "worker_progress",
    "worker_resolve",
    "escalate_request",
    "confirm_resolved",
    "reject_resolution",
)
SEVERITIES = ("normal", "urgent")
ENTITY_NAMES = ("location", "building", "unit", "room", "ticket_id", "phone", "time")
MIN_EXAMPLES = 5
SHARED_FILE = "_shared.yaml"
MAX_NAME, MAX_TEXT, MAX_ID = 50, 500, 64  # the display name, any other admin-edited text, a policy/department key

_INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_ANNOTATION = re.compile(r"\[([^\]]+)\]\((\w+)\)")
_FIELDS = {"intent", "name", "description", "not", "ticket", "priority", "emergency", "keywords", "regexes",
           "synonyms", "examples"}  # fmt: skip
_TICKET_FIELDS = {"severity", "policy", "department", "code", "subtypes"}
_SUBTYPE_FIELDS = {"id", "name", "code", "keywords", "deadline", "filing", "closing"}
MAX_SUBTYPES = 50


class IntentError(ValueError):
    """An intent file is invalid; the message names the file and the problem."""


@dataclass(frozen=True)
class TicketSpec:
    severity: str = "normal"
    policy: str | None = None  # a key of the policy file's `types:`; None: the intent's own key or the default
    department: str | None = None  # a department id that takes these cases at the department tier
    code: str | None = None  # the category code for exports (大类, or the site's own 派单目录)
    subtypes: tuple[Subtype, ...] = ()  # in order: a case takes the first whose keyword its text holds


@dataclass(frozen=True)
class IntentSpec:
    intent: str
    name: str
    examples: tuple[str, ...]
    description: str = ""
    ticket: TicketSpec | None = None
    priority: int = 100
    emergency: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # other keys kept verbatim (e.g. `not`)

    @property
    def is_report(self) -> bool:
        return self.ticket is not None


@dataclass(frozen=True)
class SharedSpec:
    regexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lookups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalog:
    intents: Mapping[str, IntentSpec]
    shared: SharedSpec = field(default_factory=SharedSpec)

    def is_report(self, intent: str) -> bool:
        spec = self.intents.get(intent)
        return spec.is_report if spec else intent.startswith("report_")

    def display_name(self, intent: str) -> str | None:
        spec = self.intents.get(intent)
        return spec.name if spec else None

    def ticket(self, intent: str) -> TicketSpec:
        spec = self.intents.get(intent)
        return (spec.ticket if spec else None) or TicketSpec()

    def reports(self) -> list[str]:
        return [i for i, s in self.intents.items() if s.is_report]

    def ordered(self) -> list[IntentSpec]:
        """Intents by priority (the keyword rules break ties in this order), then name."""
        return sorted(self.intents.values(), key=lambda s: (s.priority, s.intent))

    def departments(self) -> dict[str, str]:
        return {i: s.ticket.department for i, s in self.intents.items() if s.ticket and s.ticket.department}


def load_catalog(directory: Path) -> Catalog:
    if not directory.is_dir():
        raise IntentError(f"{directory}: intent directory not found")
    intents: dict[str, IntentSpec] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == SHARED_FILE:
            continue
        spec = parse_intent(_read(path), path.name)
        if spec.intent in intents:
            raise IntentError(f"{path}: intent {spec.intent!r} is defined twice")
        intents[spec.intent] = spec
    shared_path = directory / SHARED_FILE
    shared = parse_shared(_read(shared_path), SHARED_FILE) if shared_path.exists() else SharedSpec()
    return check_catalog(Catalog(intents, shared), directory)


def catalog_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise IntentError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise IntentError(f"{path}: not valid YAML: {exc}") from exc


def parse_intent(data: Any, where: str) -> IntentSpec:
    """Validate one intent file's mapping; every error names `where` and the field."""
    if not isinstance(data, dict):
        raise IntentError(f"{where}: expected a mapping with `intent:`, `name:` and `examples:`")
    unknown = set(data) - _FIELDS
    if unknown:
        raise IntentError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
    intent = str(data.get("intent") or "")
    if not _INTENT_NAME.match(intent):
        raise IntentError(f"{where}: `intent` must be lower_snake_case ASCII (got {intent!r})")
    if where.endswith(".yaml") and where.removesuffix(".yaml") != intent:
        raise IntentError(f"{where}: file name must be {intent}.yaml (one file per intent)")
    name = _one_line(data.get("name") or "", where, "name", MAX_NAME)
    if not name:
        raise IntentError(f"{where}: `name` (the Chinese display name) is required")
    return IntentSpec(
        intent=intent,
        name=name,
        description=_one_line(data.get("description") or "", where, "description"),
        examples=_examples(data.get("examples"), where),
        ticket=_ticket(data.get("ticket"), where),
        priority=_int(data.get("priority", 100), where, "priority"),
        emergency=_strings(data.get("emergency"), where, "emergency"),
        keywords=_strings(data.get("keywords"), where, "keywords"),
        regexes=_regexes(data.get("regexes"), where),
        synonyms=_synonyms(data.get("synonyms"), where),
        extra={k: _one_line(data[k], where, k) for k in ("not",) if k in data},
    )


def _one_line(raw: Any, where: str, name: str, limit: int = MAX_TEXT) -> str:
    """Every text an admin edits is one line: a line break (or any control character, NEL, U+2028/9)
    in a name could otherwise end up as a line of its own in a file or a message."""
    if not isinstance(raw, str | int | float):
        raise IntentError(f"{where}: `{name}` must be a text (got {type(raw).__name__})")
    value = str(raw).strip()
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise IntentError(
            f"{where}: `{name}` must be one line of text, without line breaks or control characters "
            f"(只能是一行文字，不能含换行或控制字符): {value!r}"
        )
    if len(value) > limit:
        raise IntentError(f"{where}: `{name}` is longer than {limit} characters (最多 {limit} 个字): {value[:20]!r}…")
    return value


def parse_shared(data: Any, where: str) -> SharedSpec:
    if not isinstance(data, dict):
        raise IntentError(f"{where}: expected a mapping with `regexes:`, `lookups:`, `words:`")
    regexes = data.get("regexes") or {}
    lookups = data.get("lookups") or {}
    if not isinstance(regexes, dict) or not isinstance(lookups, dict):
        raise IntentError(f"{where}: `regexes` and `lookups` map an entity name to a list")
    for entity in [*regexes, *lookups]:
        if entity not in ENTITY_NAMES:
            raise IntentError(f"{where}: unknown entity {entity!r}; known: {', '.join(ENTITY_NAMES)}")
    return SharedSpec(
        regexes={str(k): _regexes(v, f"{where} regexes.{k}") for k, v in regexes.items()},
        lookups={str(k): _strings(v, where, f"lookups.{k}") for k, v in lookups.items()},
        words=_strings(data.get("words"), where, "words"),
    )


def check_catalog(catalog: Catalog, where: Path | str) -> Catalog:
    missing = [i for i in BUILTIN if i not in catalog.intents]
    if missing:
        raise IntentError(f"{where}: the bot's handlers need these intents; restore their files: {missing}")
    if not catalog.reports():
        raise IntentError(f"{where}: no intent has a `ticket:` section, so nothing could open a ticket")
    seen: dict[str, str] = {}
    for spec in catalog.intents.values():
        for example in spec.examples:
            plain = _ANNOTATION.sub(r"\1", example)
            if plain in seen and seen[plain] != spec.intent:
                raise IntentError(
                    f"{spec.intent}.yaml: example {plain!r} is also an example of {seen[plain]!r}; keep it in one"
                )
            seen[plain] = spec.intent
    return catalog


def _examples(raw: Any, where: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        bad = [line for line in lines if not line.startswith("- ")]
        if bad:
            raise IntentError(f"{where}: every line of `examples` must start with '- ' (got {bad[0]!r})")
        items = [line[2:].strip() for line in lines]
    elif isinstance(raw, list):
        items = [str(x).strip() for x in raw]
    else:
        raise IntentError(f"{where}: `examples` is required (a block of '- example' lines)")
    items = [_one_line(x, where, "examples") for x in items if x]
    for item in items:
        for _, entity in _ANNOTATION.findall(item):
            if entity not in ENTITY_NAMES:
                raise IntentError(f"{where}: example {item!r} annotates unknown entity {entity!r}")
    if len(items) < MIN_EXAMPLES:
        raise IntentError(f"{where}: needs at least {MIN_EXAMPLES} examples (has {len(items)})")
    return tuple(dict.fromkeys(items))


def _ticket(raw: Any, where: str) -> TicketSpec | None:
    if raw is None:
        return None
    if raw is True:
        return TicketSpec()
    if not isinstance(raw, dict) or set(raw) - _TICKET_FIELDS:
        raise IntentError(f"{where}: `ticket` takes only {sorted(_TICKET_FIELDS)}")
    severity = str(raw.get("severity") or "normal")
    if severity not in SEVERITIES:
        raise IntentError(f"{where}: ticket.severity must be one of {SEVERITIES} (got {severity!r})")
    policy = _one_line(raw.get("policy") or "", where, "ticket.policy", MAX_ID)
    department = _one_line(raw.get("department") or "", where, "ticket.department", MAX_ID)
    code = _one_line(raw.get("code") or "", where, "ticket.code", MAX_ID)
    return TicketSpec(severity, policy or None, department or None, code or None, _subtypes(raw.get("subtypes"), where))


def _subtypes(raw: Any, where: str) -> tuple[Subtype, ...]:
    if raw in (None, []):
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_SUBTYPES:
        raise IntentError(f"{where}: ticket.subtypes is a list of at most {MAX_SUBTYPES} subtypes")
    found = tuple(_subtype(item, f"{where}: ticket.subtypes[{i}]") for i, item in enumerate(raw))
    ids = [s.id for s in found]
    if len(ids) != len(set(ids)):
        raise IntentError(f"{where}: two subtypes share an id")
    return found


def _subtype(raw: Any, where: str) -> Subtype:
    if not isinstance(raw, dict) or set(raw) - _SUBTYPE_FIELDS:
        raise IntentError(f"{where}: a subtype takes only {sorted(_SUBTYPE_FIELDS)}")
    key = str(raw.get("id") or "")
    if not _INTENT_NAME.match(key):
        raise IntentError(f"{where}: id must be lowercase letters, digits and _ (got {key!r})")
    words = raw.get("keywords") or []
    if not isinstance(words, list):
        raise IntentError(f"{where}: keywords is a list")
    deadline = _one_line(raw.get("deadline") or "", where, "deadline", MAX_ID)
    if deadline:
        try:
            parse_deadline(deadline)
        except SubtypeError as exc:
            raise IntentError(f"{where}: {exc}") from None
    return Subtype(
        id=key,
        name=_one_line(raw.get("name") or key, where, "name", MAX_NAME),
        code=_one_line(raw.get("code") or "", where, "code", MAX_ID),
        keywords=tuple(_one_line(w, where, "keyword", MAX_NAME) for w in words if str(w).strip()),
        deadline=deadline,
        filing=_one_line(raw.get("filing") or "", where, "filing", MAX_TEXT),
        closing=_one_line(raw.get("closing") or "", where, "closing", MAX_TEXT),
    )


def _strings(raw: Any, where: str, name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str | int) for x in raw):
        raise IntentError(f"{where}: `{name}` must be a list of words")
    items = tuple(_one_line(x, where, name) for x in raw if str(x).strip())
    return tuple(dict.fromkeys(items))


def _regexes(raw: Any, where: str) -> tuple[str, ...]:
    items = _strings(raw, where, "regexes")
    for pattern in items:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise IntentError(f"{where}: regex {pattern!r} does not compile: {exc}") from exc
    return items


def _synonyms(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise IntentError(f"{where}: `synonyms` maps a canonical value to a list of variants")
    return {_one_line(k, where, "synonyms"): _strings(v, where, f"synonyms.{k}") for k, v in raw.items()}


def _int(raw: Any, where: str, name: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise IntentError(f"{where}: `{name}` must be a whole number (got {raw!r})") from exc


class _Block(str):
    """A text dumped as a literal block (`examples: |`, one `- example` a line, as admins write them)."""


class _Flow(tuple[str, ...]):
    """A list dumped on one line (`keywords: [a, b]`)."""


class _IntentDumper(yaml.SafeDumper):
    """PyYAML's safe emitter: every value is quoted or escaped as YAML needs, so no text can add a key."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """A text with a line break or a control character is double-quoted, where YAML escapes it
    (`\\n`, `\\N`); other styles would fold it into a space."""
    breaks = any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if breaks else None)


_IntentDumper.add_representer(str, _text)
_IntentDumper.add_representer(_Block, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style="|"))
_IntentDumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def dump_intent(spec: IntentSpec) -> str:
    """The YAML text of one intent file, in the layout admins see (lists on one line), written by
    the YAML emitter: a value never becomes structure, whatever it holds (the file is validated
    again before it is written, and a multi-line text is refused there)."""
    doc: dict[str, Any] = {"intent": spec.intent, "name": spec.name}
    if spec.description:
        doc["description"] = spec.description
    doc.update({key: str(value) for key, value in spec.extra.items()})
    if spec.ticket:
        t = spec.ticket
        ticket: dict[str, Any] = {"severity": t.severity, "policy": t.policy, "department": t.department}
        ticket["code"] = t.code
        ticket["subtypes"] = [_dump_subtype(s) for s in t.subtypes]
        doc["ticket"] = {k: v for k, v in ticket.items() if v}
    doc.update(priority=spec.priority, emergency=_Flow(spec.emergency), keywords=_Flow(spec.keywords))
    doc["regexes"] = list(spec.regexes)
    doc["synonyms"] = {k: _Flow(v) for k, v in spec.synonyms.items()}
    doc["examples"] = _Block("".join(f"- {example}\n" for example in spec.examples))
    return yaml.dump(doc, Dumper=_IntentDumper, allow_unicode=True, sort_keys=False, width=10_000)


def _dump_subtype(s: Subtype) -> dict[str, Any]:
    out: dict[str, Any] = {"id": s.id, "name": s.name, "code": s.code, "keywords": _Flow(s.keywords),
                           "deadline": s.deadline, "filing": s.filing, "closing": s.closing}  # fmt: skip
    return {k: v for k, v in out.items() if v}


class IntentFiles:
    """Admin edits of config/intents/: every change is validated against the whole catalog first."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def catalog(self) -> Catalog:
        return load_catalog(self.directory)

    def read(self, intent: str) -> str:
        path = self._path(intent)
        if not path.exists():
            raise KeyError(intent)
        return path.read_text(encoding="utf-8")

    def write(self, intent: str, text: str) -> IntentSpec:
        """Replace (or add) one intent file; IntentError names the problem and nothing is written."""
        spec = self.validate(intent, text)
        _atomic_write(self._path(intent), text)
        return spec

    def validate(self, intent: str, text: str) -> IntentSpec:
        """What `write` would store, checked against the whole catalog, without writing."""
        path = self._path(intent)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise IntentError(f"{path.name}: not valid YAML: {exc}") from exc
        spec = parse_intent(data, path.name)
        if spec.intent != intent:
            raise IntentError(f"{path.name}: the file says intent {spec.intent!r}")
        current = load_catalog(self.directory)
        check_catalog(Catalog({**current.intents, intent: spec}, current.shared), path.name)
        return spec

    def delete(self, intent: str) -> None:
        if intent in BUILTIN:
            raise IntentError(f"{intent}.yaml: the bot's handlers need {intent!r}; edit it instead of removing it")
        path = self._path(intent)
        if not path.exists():
            raise KeyError(intent)
        current = load_catalog(self.directory)
        rest = {k: v for k, v in current.intents.items() if k != intent}
        check_catalog(Catalog(rest, current.shared), path.name)
        path.unlink()

    def _path(self, intent: str) -> Path:
        if not _INTENT_NAME.match(intent):
            raise IntentError(f"{intent!r}: an intent name is lower_snake_case ASCII")
        return self.directory / f"{intent}.yaml"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
