"""Load the grid YAML (district → townships → communities → grids) into a `Directory`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tickets.directory import Department, Directory, DirectoryError, Node, Person, Role
from tickets.model import Tier

_CHILDREN = {Tier.DISTRICT: "townships", Tier.TOWNSHIP: "communities", Tier.COMMUNITY: "grids"}
_BELOW = {Tier.DISTRICT: Tier.TOWNSHIP, Tier.TOWNSHIP: Tier.COMMUNITY, Tier.COMMUNITY: Tier.GRID}


class GridFileError(ValueError):
    pass


def load_directory_file(path: Path) -> Directory:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GridFileError(f"{path}: cannot read grid file: {exc}") from exc
    try:
        return parse_directory(data)
    except (DirectoryError, KeyError, TypeError, ValueError) as exc:
        raise GridFileError(f"{path}: {exc}") from exc


def parse_directory(data: Any) -> Directory:
    if not isinstance(data, dict) or not isinstance(data.get("district"), dict):
        raise GridFileError("the file must start with a `district:` mapping")
    nodes: list[Node] = []
    people: list[Person] = []
    _walk(data["district"], Tier.DISTRICT, None, nodes, people)
    departments = []
    for d in data.get("departments") or []:
        staff = [Person(str(p["id"]), str(p["name"]), Role.OFFICER, None) for p in d.get("people") or []]
        people += staff
        departments.append(
            Department(str(d["id"]), str(d["name"]), tuple(p.id for p in staff), tuple(d.get("types") or ()))
        )
    people += [Person(str(a["id"]), str(a["name"]), Role.ADMIN, None) for a in data.get("admins") or []]
    ids = [p.id for p in people]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise GridFileError(f"person ids used twice: {duplicates}")
    return Directory(nodes, people, departments)


def _walk(item: dict[str, Any], tier: Tier, parent: str | None, nodes: list[Node], people: list[Person]) -> None:
    node_id = str(item["id"])
    chat = item.get("chat_id")
    nodes.append(Node(node_id, str(item["name"]), tier, parent, str(chat) if chat else None))
    role_key, role = ("workers", Role.WORKER) if tier is Tier.GRID else ("officers", Role.OFFICER)
    people += [Person(str(p["id"]), str(p["name"]), role, node_id) for p in item.get(role_key) or []]
    if tier in _CHILDREN:
        for child in item.get(_CHILDREN[tier]) or []:
            _walk(child, _BELOW[tier], node_id, nodes, people)
