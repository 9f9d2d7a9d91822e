"""Plane geometry of the grid map, pure: GeoJSON boundaries checked into one canonical shape, point in
polygon (holes, multipolygons), distances on the sphere, the grid containing a point, the nearest people.

Coordinates are (lng, lat) in degrees, GeoJSON's order. A boundary is kept as a multipolygon:
polygons of rings, the first ring the outline and the rest holes, each ring closed (first point = last).
At the scale of a micro-grid the ray-casting test on raw degrees is exact enough (the error of treating
degrees as planar is far below a building's width)."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]  # (lng, lat)
Ring = tuple[Point, ...]
Polygon = tuple[Ring, ...]  # outline, then holes
Shape = tuple[Polygon, ...]  # a multipolygon; a Polygon is a Shape of one

EARTH_RADIUS_M = 6_371_008.8
_PLACE_NOISE = re.compile(r"[\s,，。.、：:（）()-]+")
_BUILDING = re.compile(r"(\d+)\s*(?:号楼|#楼|栋|幢|#|号)")
_CN = str.maketrans("一二三四五六七八九", "123456789")


def place_key(location: str) -> str:
    """`三号楼 2单元` and `3#楼2单元` are one place: Chinese digits, separators and building words unified."""
    return _BUILDING.sub(r"\1号楼", _PLACE_NOISE.sub("", location.translate(_CN)))


class GeoError(ValueError):
    """A boundary or point that is not valid GeoJSON for a map of China (English and Chinese in one message)."""


def point(value: Any, what: str) -> Point:
    """`[lng, lat]` checked: two numbers, longitude −180…180, latitude −90…90."""
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise GeoError(f"{what}: a point is [lng, lat] / 坐标应为 [经度, 纬度]")
    lng, lat = value[0], value[1]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lng, lat)):
        raise GeoError(f"{what}: coordinates must be numbers / 坐标必须是数字")
    if not -180 <= lng <= 180:
        raise GeoError(f"{what}: longitude {lng} out of range −180…180 / 经度超出范围")
    if not -90 <= lat <= 90:
        raise GeoError(f"{what}: latitude {lat} out of range −90…90 / 纬度超出范围")
    return (float(lng), float(lat))


def _ring(value: Any, what: str) -> Ring:
    if not isinstance(value, list | tuple):
        raise GeoError(f"{what}: a ring is a list of points / 边界环应为坐标列表")
    ring = tuple(point(p, what) for p in value)
    if len(ring) < 4:
        raise GeoError(f"{what}: a ring needs at least 4 points / 边界环至少 4 个点")
    if ring[0] != ring[-1]:
        raise GeoError(f"{what}: the ring is not closed (first point ≠ last) / 边界环未闭合（首尾坐标不同）")
    return ring


def _polygon(value: Any, what: str) -> Polygon:
    if not isinstance(value, list | tuple) or not value:
        raise GeoError(f"{what}: a polygon is a list of rings / 多边形应为边界环列表")
    return tuple(_ring(r, f"{what} ring {i + 1}") for i, r in enumerate(value))


def shape(value: Any, what: str = "boundary") -> Shape:
    """A GeoJSON Polygon or MultiPolygon (or a Feature holding one) as a checked `Shape`."""
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict):
        raise GeoError(f"{what}: expected a GeoJSON Polygon or MultiPolygon / 边界应为 GeoJSON 多边形")
    kind, coordinates = value.get("type"), value.get("coordinates")
    if kind == "Polygon":
        return (_polygon(coordinates, what),)
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise GeoError(f"{what}: a MultiPolygon needs polygons / MultiPolygon 至少一个多边形")
        return tuple(_polygon(p, f"{what} polygon {i + 1}") for i, p in enumerate(coordinates))
    raise GeoError(f"{what}: type {kind!r} is not Polygon or MultiPolygon / 边界类型须为 Polygon 或 MultiPolygon")


def to_geojson(boundary: Shape) -> dict[str, Any]:
    """The GeoJSON geometry of a shape (a Polygon when it has one part)."""
    parts = [[[list(p) for p in ring] for ring in polygon] for polygon in boundary]
    return {"type": "Polygon", "coordinates": parts[0]} if len(parts) == 1 else {"type": "MultiPolygon",
                                                                                 "coordinates": parts}  # fmt: skip


def _in_ring(ring: Ring, lng: float, lat: float) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > lat) != (y2 > lat) and lng < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def contains(boundary: Shape, at: Point) -> bool:
    """Is the point inside the shape: inside some polygon's outline and none of its holes."""
    lng, lat = at
    return any(
        _in_ring(polygon[0], lng, lat) and not any(_in_ring(hole, lng, lat) for hole in polygon[1:])
        for polygon in boundary
    )


def bbox(boundary: Shape) -> tuple[float, float, float, float]:
    """(min lng, min lat, max lng, max lat)."""
    xs = [p[0] for polygon in boundary for p in polygon[0]]
    ys = [p[1] for polygon in boundary for p in polygon[0]]
    return (min(xs), min(ys), max(xs), max(ys))


def distance_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres (haversine)."""
    lng1, lat1, lng2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def containing(boundaries: Mapping[str, Shape], at: Point) -> str | None:
    """The id of the first shape (in id order) that contains the point, or None."""
    lng, lat = at
    for key in sorted(boundaries):
        x0, y0, x1, y1 = bbox(boundaries[key])
        if x0 <= lng <= x1 and y0 <= lat <= y1 and contains(boundaries[key], at):
            return key
    return None


@dataclass(frozen=True)
class Near:
    person_id: str
    metres: float


def nearest(positions: Iterable[tuple[str, Point]], at: Point, within_m: float, limit: int = 10) -> list[Near]:
    """The people whose last position is within `within_m` of `at`, nearest first."""
    found = [Near(pid, distance_m(at, where)) for pid, where in positions]
    return sorted((n for n in found if n.metres <= within_m), key=lambda n: (n.metres, n.person_id))[:limit]


BuildingIndex = tuple[tuple[str, Point], ...]


def building_index(buildings: Sequence[tuple[str, Point]], key: Callable[[str], str] = place_key) -> BuildingIndex:
    """Building names normalised once (三号楼 = 3#楼 = 3号楼), longest first: for `building_in`."""
    return tuple(sorted(((key(name), at) for name, at in buildings if key(name)), key=lambda b: -len(b[0])))


def building_in(index: BuildingIndex, location: str, key: Callable[[str], str] = place_key) -> Point | None:
    """The point of the building a location names: the longest name found in it, not as the tail of a
    longer number (3号楼 is not in 13号楼)."""
    where = key(location)
    for name, at in index:
        start = where.find(name)
        while start != -1:
            if start == 0 or not where[start - 1].isdigit():
                return at
            start = where.find(name, start + 1)
    return None


def building_at(buildings: Sequence[tuple[str, Point]], location: str,
                key: Callable[[str], str] = place_key) -> Point | None:  # fmt: skip
    """`building_in` for a one-off lookup."""
    return building_in(building_index(buildings, key), location, key)
