"""Load the escalation policy YAML into a validated `PolicyBook`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from escalation.policy import PolicyBook, PolicyError, validate
from tickets.model import LadderStep, SlaPolicy, Tier

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: Any) -> int:
    """`90`, `"90s"`, `"15m"`, `"2h"`, `"1d"` → seconds."""
    match = _DURATION.match(str(value))
    if not match:
        raise PolicyError(f"not a duration: {value!r} (use 30s, 15m, 2h, 1d)")
    return int(float(match.group(1)) * _UNITS[match.group(2) or "s"])


def load_policies(path: Path) -> PolicyBook:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return parse_policies(data)
    except (OSError, yaml.YAMLError, PolicyError, KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"{path}: {exc}") from exc


def parse_policies(data: Any) -> PolicyBook:
    if not isinstance(data, dict) or not isinstance(data.get("default"), dict):
        raise PolicyError("the file needs a `default:` policy")
    default_raw: dict[str, Any] = data["default"]
    default = _policy(default_raw, "default")
    by_type = {
        str(kind): _policy({**default_raw, **(raw or {})}, str(kind)) for kind, raw in (data.get("types") or {}).items()
    }
    return PolicyBook(default, by_type)


def _policy(raw: dict[str, Any], fallback_name: str) -> SlaPolicy:
    ladder = tuple(LadderStep(Tier(step["tier"]), parse_duration(step["ack"])) for step in raw["ladder"])
    return validate(
        SlaPolicy(
            name=str(raw.get("name") or fallback_name),
            accept_s=parse_duration(raw["accept"]),
            resolve_s=parse_duration(raw["resolve"]),
            nag_at=tuple(float(f) for f in raw.get("nag_at") or ()),
            ladder=ladder,
            location_s=parse_duration(raw.get("ask_location", SlaPolicy.location_s)),
            feedback_s=parse_duration(raw.get("feedback", SlaPolicy.feedback_s)),
        )
    )
