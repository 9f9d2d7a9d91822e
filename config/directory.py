"""Load the grid YAML (district → townships → communities → grids) into a `Directory`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from tickets import geo
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
        return checked_directory(data, base=path.parent)
    except GridFileError as exc:
        raise GridFileError(f"{path}: {exc}") from exc


def checked_directory(data: Any, base: Path | None = None) -> Directory:
    """`parse_directory`, with every malformed document reported as a GridFileError saying what is wrong."""
    try:
        return parse_directory(data, base)
    except GridFileError:
        raise
    except KeyError as exc:
        raise GridFileError(f"missing field {exc}") from exc
    except (DirectoryError, TypeError, ValueError, AttributeError) as exc:
        raise GridFileError(str(exc)) from exc


def parse_directory(data: Any, base: Path | None = None) -> Directory:
    """`base`: the folder a `boundary: file.geojson` is read from (the YAML file's); None (an upload) refuses paths."""
    if not isinstance(data, dict) or not isinstance(data.get("district"), dict):
        raise GridFileError("the file must start with a `district:` mapping")
    nodes: list[Node] = []
    people: list[Person] = []
    _walk(data["district"], Tier.DISTRICT, None, nodes, people, base)
    departments = []
    for d in data.get("departments") or []:
        staff = [Person(str(p["id"]), str(p["name"]), Role.OFFICER, None) for p in d.get("people") or []]
        people += staff
        departments.append(
            Department(str(d["id"]), str(d["name"]), tuple(p.id for p in staff), tuple(d.get("types") or ()))
        )
    people += [Person(str(a["id"]), str(a["name"]), Role.ADMIN, None) for a in data.get("admins") or []]
    duplicates = sorted(i for i, n in Counter(p.id for p in people).items() if n > 1)  # linear: rosters are large
    if duplicates:
        raise GridFileError(f"person ids used twice: {duplicates}")
    return Directory(nodes, people, departments)


def _walk(item: dict[str, Any], tier: Tier, parent: str | None, nodes: list[Node], people: list[Person],
          base: Path | None) -> None:  # fmt: skip
    node_id = str(item["id"])
    chat = item.get("chat_id")
    boundary, buildings = map_of(node_id, item.get("boundary"), item.get("buildings"), base)
    nodes.append(Node(node_id, str(item["name"]), tier, parent, str(chat) if chat else None, boundary, buildings))
    role_key, role = ("workers", Role.WORKER) if tier is Tier.GRID else ("officers", Role.OFFICER)
    people += [Person(str(p["id"]), str(p["name"]), role, node_id) for p in item.get(role_key) or []]
    if tier in _CHILDREN:
        for child in item.get(_CHILDREN[tier]) or []:
            _walk(child, _BELOW[tier], node_id, nodes, people, base)


def map_of(
    node_id: str, boundary: Any, buildings: Any, base: Path | None = None
) -> tuple[geo.Shape | None, tuple[tuple[str, geo.Point], ...]]:
    """A node's `boundary` (a GeoJSON Polygon/MultiPolygon, or a .geojson file's path relative to the grid
    file) and `buildings` ({3号楼: [lng, lat]}), checked; errors name the node."""
    try:
        if isinstance(boundary, str):
            boundary = _geojson_file(boundary, base)
        shape = geo.shape(boundary, "boundary") if boundary is not None else None
        if buildings is not None and not isinstance(buildings, dict):
            raise geo.GeoError("buildings: a mapping {name: [lng, lat]} / buildings 应为 {楼栋: [经度, 纬度]}")
        points = tuple((str(k), geo.point(v, f"building {k}")) for k, v in (buildings or {}).items())
    except geo.GeoError as exc:
        raise GridFileError(f"node {node_id}: {exc}") from exc
    return shape, points


def _geojson_file(name: str, base: Path | None) -> Any:
    if base is None:
        raise geo.GeoError("a boundary file path works only in a grid file on disk; put the GeoJSON inline /"
                           " 上传的名录请直接写 GeoJSON，不能引用文件")  # fmt: skip
    path = (base / name).resolve()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise geo.GeoError(f"cannot read boundary file {name}: {exc} / 无法读取边界文件") from exc


def dump_directory(directory: Directory) -> dict[str, Any]:
    """The directory as the grid YAML document `parse_directory` reads (export, then re-import)."""
    roots = [n for n in directory.nodes.values() if n.parent is None and n.tier is Tier.DISTRICT]
    if len(roots) != 1:
        raise GridFileError("the directory needs exactly one district at its root")
    document: dict[str, Any] = {"district": _dump_node(directory, roots[0].id)}
    staff = {p for d in directory.departments for p in d.people}
    document["departments"] = [
        {"id": d.id, "name": d.name, "people": [_person(directory, p) for p in d.people], "types": list(d.types)}
        for d in directory.departments
    ]
    document["admins"] = [
        {"id": p.id, "name": p.name} for p in directory.people.values() if p.role is Role.ADMIN and p.id not in staff
    ]
    return document


def _person(directory: Directory, person_id: str) -> dict[str, str]:
    return {"id": person_id, "name": directory.people[person_id].name}


def _dump_node(directory: Directory, node_id: str) -> dict[str, Any]:
    node = directory.nodes[node_id]
    out: dict[str, Any] = {"id": node.id, "name": node.name}
    if node.chat_id:
        out["chat_id"] = node.chat_id
    if node.boundary:
        out["boundary"] = geo.to_geojson(node.boundary)
    if node.buildings:
        out["buildings"] = {name: list(at) for name, at in node.buildings}
    role, key = (Role.WORKER, "workers") if node.tier is Tier.GRID else (Role.OFFICER, "officers")
    out[key] = [{"id": p.id, "name": p.name} for p in directory.people.values() if p.role is role and p.node == node_id]
    if node.tier in _CHILDREN:
        children = sorted(n.id for n in directory.nodes.values() if n.parent == node_id)
        out[_CHILDREN[node.tier]] = [_dump_node(directory, c) for c in children]
    return out
