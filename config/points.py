"""Load the points policy (`config/points.yaml`, GRIDBOT_POINTS) into a validated `PointsPolicy`.

Every rule has a default (`tickets.points.DEFAULT_POINTS`): a rule the file leaves out keeps it, an
unknown rule name is an error (a typo would otherwise be silently ignored). Points are whole numbers,
penalties (`verification_failed`, `return_pushback`) zero or below, the others zero or above."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from tickets.points import DEFAULT_POINTS, PENALTIES, PointsError, PointsPolicy, Rule

MAX_POINTS = 1000  # of one rule, either way


def load_points(path: Path) -> PointsPolicy:
    try:
        return parse_points(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, PointsError) as exc:
        raise PointsError(f"{path}: {exc}") from exc


def parse_points(data: Any) -> PointsPolicy:
    if data is None:
        return PointsPolicy()
    if not isinstance(data, dict) or set(data) - {"rules", "dispute_types"}:
        raise PointsError("the file has `rules:` (rule: points) and `dispute_types:` (a list of case types)")
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise PointsError("`rules:` maps each rule to its points")
    unknown = sorted(str(k) for k in rules if k not in set(Rule))
    if unknown:
        raise PointsError(f"unknown rules {unknown}; the rules are {[r.value for r in Rule]}")
    points = {**DEFAULT_POINTS, **{Rule(k): _points(k, v) for k, v in rules.items()}}
    types = data.get("dispute_types", ["report_dispute"])
    if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise PointsError("`dispute_types:` is a list of case types (e.g. [report_dispute])")
    return PointsPolicy(MappingProxyType(points), frozenset(types))


def _points(rule: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_POINTS:
        raise PointsError(f"{rule}: points are a whole number from -{MAX_POINTS} to {MAX_POINTS}, not {value!r}")
    if Rule(rule) in PENALTIES and value > 0:
        raise PointsError(f"{rule} is a penalty: its points are 0 or below, not {value}")
    if Rule(rule) not in PENALTIES and value < 0:
        raise PointsError(f"{rule} earns points: 0 or above, not {value}")
    return value
