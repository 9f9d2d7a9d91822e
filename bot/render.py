"""Render notices into the Chinese texts of config/templates.yaml."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.masking import mask_personal
from escalation.calendar import LOCAL
from tickets.city import CITY_REPORTER
from tickets.directory import Directory
from tickets.model import EventKind, Notice, Ticket, TicketEvent

KNOWN_FIELDS = frozenset(
    [
        "ticket_id",
        "type_name",
        "location",
        "location_part",
        "text",
        "note",
        "rating",
        "due",
        "reporter_name",
        "worker_name",
        "actor_name",
        "grid_name",
        "tier_name",
        "state_name",
        "phase_name",
        "lines",
        "mentions",
        "answer",
        "added",
        "department_name",
        "returns",
        "conditions",
        "balance",
        "earned",
        "points",
        "rule_name",
        "day",
    ]
)
# Fields whose words come from the administrators (the FAQ's answer, the names in the directory and
# the templates), posted as written; every other value may carry a resident's number and is masked
# in a group post. The template's own words (a hotline it names) are never masked.
VERBATIM_FIELDS = frozenset(
    [
        "answer",
        "type_name",
        "tier_name",
        "state_name",
        "phase_name",
        "grid_name",
        "worker_name",
        "department_name",
        "conditions",
    ]
)

MAX_TEMPLATE = 1000  # characters of one message template (the longest shipped is under 150)


_HIDDEN_DETAILS = frozenset(["policy"])  # the policy snapshot's name: shown in the case's deadlines instead
_PLATFORM_SUFFIX = re.compile(r"#[a-z]{2,8}\d+$")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Templates:
    """`messages` by key; `one_to_one` holds the words of some of them for a one-to-one line (the
    Official Account, the WeCom app), where "in the group" and "@name" make no sense."""

    messages: Mapping[str, str]
    names: Mapping[str, Any]
    one_to_one: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Templates:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateError(f"{path}: {exc}") from exc
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, where: str = "templates") -> Templates:
        try:
            data = yaml.safe_load(text)
            templates = cls(dict(data["messages"]), dict(data.get("names") or {}), dict(data.get("one_to_one") or {}))
        except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            raise TemplateError(f"{where}: {exc}") from exc
        if not all(isinstance(v, str) for v in [*templates.messages.values(), *templates.one_to_one.values()]):
            raise TemplateError(f"{where}: every message must be a text")
        unknown = sorted(set(templates.one_to_one) - set(templates.messages))
        if unknown:
            raise TemplateError(f"{where}: one_to_one names messages that do not exist: {', '.join(unknown)}")
        templates.check(where)
        return templates

    def missing(self, other: Templates) -> list[str]:
        """Message keys `other` has and this one lacks (an edit must not remove what the bot says)."""
        return sorted(set(other.messages) - set(self.messages))

    def check(self, where: Path | str = "templates") -> None:
        """Every message is short plain text with bare `{field}`s of KNOWN_FIELDS, nothing else.

        `str.format` is a small language: `{text:>5000000}` pads a message to megabytes, `{x!r}` and
        `{x.attr}` / `{x[0]}` reach into the values, a nested `{x:{y}}` builds a format from data. A
        template is admin-edited text rendered into every chat post, so only bare names are allowed."""
        for key, text in [*self.messages.items(), *self.one_to_one.items()]:
            if len(text) > MAX_TEMPLATE:
                raise TemplateError(f"{where}: template {key!r} is longer than {MAX_TEMPLATE} characters")
            try:
                parts = list(string.Formatter().parse(text))
            except ValueError as exc:
                raise TemplateError(f"{where}: template {key!r}: unbalanced braces ({exc})") from exc
            for _, name, spec, conversion in parts:
                if name is not None:
                    _check_field(where, key, name, spec, conversion)

    def name(self, group: str, key: str) -> str:
        return str((self.names.get(group) or {}).get(key, key))


def _check_field(where: Path | str, key: str, field: str, spec: str | None, conversion: str | None) -> None:
    if spec or conversion:
        raise TemplateError(f"{where}: template {key!r}: write {{{field}}} alone, without a format spec or "
                            f"conversion (“:…”, “!r”)")  # fmt: skip
    if not field:
        raise TemplateError(f"{where}: template {key!r}: an empty placeholder {{}} (write a name, e.g. {{ticket_id}})")
    if field not in KNOWN_FIELDS:
        what = "attribute or index access in" if any(c in field for c in ".[") else "unknown"
        raise TemplateError(f"{where}: template {key!r} uses {what} placeholders {[field]}")


class Renderer:
    def __init__(
        self,
        templates: Templates,
        directory: Callable[[], Directory],
        type_name: Callable[[str], str | None] = lambda ticket_type: None,
        type_code: Callable[[str], str | None] = lambda ticket_type: None,
    ) -> None:
        self.templates = templates
        self._directory = directory
        self._type_name = type_name  # display names from the active intent catalog
        self._type_code = type_code  # category codes for exports, from the same catalog

    def render(self, key: str, params: Mapping[str, object], *, one_to_one: bool = False, masked: bool = False) -> str:
        """The words of `key` filled in; `one_to_one` picks its one-to-one variant if it has one;
        `masked` masks phone and ID numbers in what is filled in (not in the template's own words)."""
        template = self.templates.messages.get(key)
        if template is None:
            raise TemplateError(f"no template named {key!r} in templates.yaml")
        if one_to_one:
            template = self.templates.one_to_one.get(key, template)
        fields = self.fields(params)
        if masked:
            fields = {k: _masked(k, v) for k, v in fields.items()}
        return template.format_map(fields)

    def notice(self, notice: Notice) -> str:
        """The text of a notice: an answer on a one-to-one line, or a ping about something said on
        one, in its one-to-one words; one posted to a chat with the residents' phone and ID numbers masked."""
        return self.render(notice.template, notice.params, one_to_one=notice.private, masked=bool(notice.chat_id))

    def type_name(self, ticket_type: str) -> str:
        return self._type_name(ticket_type) or self.templates.name("type", ticket_type)

    def category_code(self, ticket: Ticket) -> str:
        """The export's category code: the case's subtype's, else its type's (the intent file's `ticket: code`)."""
        if ticket.subtype is not None and ticket.subtype.code:
            return ticket.subtype.code
        return self._type_code(ticket.type) or ""

    def name(self, group: str, key: str) -> str:
        """A display name: `type` from the active intent catalog, others from the templates' names."""
        return self.type_name(key) if group == "type" else self.templates.name(group, key)

    def person_name(self, person_id: object) -> str:
        """A directory person's name; a resident known by a platform id (`张阿姨#tg42`) by their name."""
        person = self._directory().person(str(person_id))
        return person.name if person else _PLATFORM_SUFFIX.sub("", str(person_id))

    def fields(self, params: Mapping[str, object]) -> dict[str, object]:
        t = self.templates
        location = str(params.get("location") or "")
        out: dict[str, object] = {k: "" for k in KNOWN_FIELDS}
        out.update({k: _display(v) for k, v in params.items()})
        out.update(
            type_name=self.type_name(str(params.get("type", ""))),
            tier_name=t.name("tier", str(params.get("tier", ""))),
            state_name=t.name("state", str(params.get("state", ""))),
            phase_name=t.name("phase", str(params.get("phase", ""))),
            rule_name=t.name("points_rule", str(params.get("rule", ""))),
            location=location or t.names.get("no_location", ""),
            location_part=f"（{location}）" if location else "",
            reporter_name=self.person_name(params.get("reporter", "")),
            worker_name=self.person_name(params.get("worker", "")) if params.get("worker") else "",
            actor_name=self.person_name(params.get("actor", "")) if params.get("actor") else "",
            grid_name=self._grid_name(params),
            mentions=self._mentions(params),
            added=self._added(params),
        )
        return out

    def _added(self, params: Mapping[str, object]) -> str:
        """What a supplement added: `图片 ×2：门口又堆上了`, `位置（阳光小区东门）`, or the words alone."""
        items = params.get("attachments")
        kinds = [a for a in items if isinstance(a, Mapping)] if isinstance(items, list | tuple) else []
        photos = sum(1 for a in kinds if a.get("kind") == "image")
        parts = [f"{self.templates.name('attachment', 'image')} ×{photos}"] if photos else []
        for place in (a for a in kinds if a.get("kind") == "location"):
            where = place.get("label") or f"{place.get('lat')},{place.get('lng')}"
            parts.append(f"{self.templates.name('attachment', 'location')}（{where}）")
        head, note = "、".join(parts), str(params.get("note") or "")
        return f"{head}：{note}" if head and note else head or note

    def event_details(self, event: TicketEvent) -> list[str]:
        """A timeline entry's details as people read them (`层级：社区`, `通知：荷花社区-孙书记`, `吹哨`):
        every key and value in Chinese, people and nodes by name; the policy snapshot and empty values left out."""
        shown = []
        for key, value in event.detail.items():
            if key in _HIDDEN_DETAILS or value in (None, "", [], {}, False):
                continue
            label = self._detail_label(event.kind, key)
            shown.append(label if value is True else f"{label}：{self._detail_value(event.kind, key, value)}")
        return shown

    def _detail_label(self, kind: EventKind, key: str) -> str:
        if key == "to" and kind is not EventKind.REASSIGNED:
            return self.templates.name("detail", "to_officers")  # the people notified, not a new worker
        return self.templates.name("detail", key)

    def _detail_value(self, kind: EventKind, key: str, value: object) -> str:
        if key in ("tier", "phase") or (key == "reason" and kind is EventKind.CLOSED):
            return self.templates.name("close_reason" if key == "reason" else key, str(value))
        if key == "state_before":
            return self.templates.name("state", str(value))
        if key in ("from", "to", "actor"):
            people = value if isinstance(value, list | tuple) else [value]
            return "、".join(self.person_name(p) for p in people)
        if key in ("grid", "node"):
            return self._grid_name({"grid": value}) or str(value)
        if key == "department":
            return next((d.name for d in self._directory().departments if d.id == value), str(value))
        if key == "from_tier":
            return self.templates.name("tier", str(value))
        if key in ("until", "deadline") and isinstance(value, str):
            return str(_display(datetime.fromisoformat(value)))
        if key == "attachments":
            return self._added({"attachments": value})
        if key == "rating":
            return f"{value} 分"
        if isinstance(value, list | tuple):
            return "、".join(str(_display(v)) for v in value)
        return str(_display(value))

    def _mentions(self, params: Mapping[str, object]) -> str:
        """`@张阿姨 @老王`: the reporter and every linked reporter of the case."""
        residents = params.get("residents") or [params.get("reporter", "")]
        people = [r for r in residents if r and r != CITY_REPORTER] if isinstance(residents, list | tuple) else []
        names = [self.person_name(r) for r in people]  # the 12345 platform is no one to @ in the group
        return " ".join(f"@{n}" for n in names)

    def _grid_name(self, params: Mapping[str, object]) -> str:
        node = self._directory().nodes.get(str(params.get("grid", "")))
        return node.name if node else ""


def _masked(key: str, value: object) -> object:
    return mask_personal(value) if isinstance(value, str) and key not in VERBATIM_FIELDS else value


def _display(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL).strftime("%m月%d日 %H:%M:%S")
    return value
