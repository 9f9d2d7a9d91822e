"""Load the escalation policy YAML into a validated `PolicyBook`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from escalation.policy import PolicyBook, PolicyError, validate
from tickets.model import LadderStep, SlaPolicy, Tier, Verify

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: Any) -> int:
    """`90`, `"90s"`, `"15m"`, `"2h"`, `"1d"` → seconds."""
    match = _DURATION.match(str(value))
    if not match:
        raise PolicyError(f"not a duration: {value!r} (use 30s, 15m, 2h, 1d)")
    return int(float(match.group(1)) * _UNITS[match.group(2) or "s"])


_CLOCK_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_hours(value: Any, what: str) -> tuple[int, int] | None:
    """`"21:00-07:30"` → (1260, 450) minutes after midnight; empty/None → None."""
    if value in (None, "", False):
        return None
    match = _CLOCK_RANGE.match(str(value))
    if not match:
        raise PolicyError(f"{what}: not a time range: {value!r} (use 21:00-07:30)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
        raise PolicyError(f"{what}: not a time of day in {value!r}")
    return h1 * 60 + m1, h2 * 60 + m2


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
    ladder = tuple(
        LadderStep(Tier(step["tier"]), parse_duration(step["ack"]), int(step.get("repeat", 0)))
        for step in raw["ladder"]
    )
    return validate(
        SlaPolicy(
            name=str(raw.get("name") or fallback_name),
            accept_s=parse_duration(raw["accept"]),
            resolve_s=parse_duration(raw["resolve"]),
            nag_at=tuple(float(f) for f in raw.get("nag_at") or ()),
            ladder=ladder,
            location_s=parse_duration(raw.get("ask_location", SlaPolicy.location_s)),
            feedback_s=parse_duration(raw.get("feedback", SlaPolicy.feedback_s)),
            sign_s=parse_duration(raw.get("sign", SlaPolicy.sign_s)),
            sign_urgent_s=parse_duration(raw.get("sign_urgent", SlaPolicy.sign_urgent_s)),
            proof=_flag(raw.get("proof_photo", False), "proof_photo"),
            verify=_verify(raw.get("verify", Verify.REPORTER.value)),
            verify_s=parse_duration(raw.get("verify_within", SlaPolicy.verify_s)),
            rework_s=parse_duration(raw.get("rework", 0)),
            cards=_flag(raw.get("cards", False), "cards"),
            red_card_days=int(raw.get("red_card_workdays", SlaPolicy.red_card_days)),
            subtype_deadlines=_flag(raw.get("subtype_deadlines", True), "subtype_deadlines"),
            quiet=parse_hours(raw.get("quiet_hours"), "quiet_hours"),
            working=parse_hours(raw.get("working_time"), "working_time"),
        )
    )


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{what}: use true or false, not {value!r}")
    return value


def _verify(value: Any) -> Verify:
    try:
        return Verify(str(value))
    except ValueError:
        raise PolicyError(f"verify: one of {[v.value for v in Verify]}, not {value!r}") from None
