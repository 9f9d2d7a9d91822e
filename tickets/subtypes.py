"""Subtypes of a ticket type (the intent file's `ticket: subtypes:`), as 数字城管 catalogues run them:
each with its own deadline in working hours, working days or round the clock, a category code for
exports, and the 立案条件/结案条件 (when a case may be filed, when it may be closed) shown to the
handler. A case takes the first subtype whose keyword its text holds; the subtype is snapshotted
onto the ticket with its policy, like the policy itself.

Deadlines: `4wh` four working hours, `1wd` one working day (of the working day below), `2h` two
hours round the clock (no quiet hours, no working-time counting), `3d` three days.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tickets.model import SlaPolicy

WORKDAY = (8 * 60 + 30, 17 * 60 + 30)  # 08:30–17:30 when the policy sets no working time of its own
_DEADLINE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(wh|wd|m|h|d)\s*$")
_UNITS = {"m": 60, "h": 3600, "d": 86400}


class SubtypeError(ValueError):
    pass


@dataclass(frozen=True)
class Subtype:
    id: str
    name: str
    code: str = ""  # the category code for exports (大类/小类, or the site's own 派单目录)
    keywords: tuple[str, ...] = ()
    deadline: str = ""  # the resolve deadline as written (`4wh`, `1wd`, `2h`); empty: the type's policy
    filing: str = ""  # 立案条件
    closing: str = ""  # 结案条件

    @property
    def conditions(self) -> str:
        parts = [f"立案条件：{self.filing}" if self.filing else "", f"结案条件：{self.closing}" if self.closing else ""]
        return "；".join(p for p in parts if p)


def parse_deadline(text: str) -> tuple[int, bool]:
    """(`seconds`, `working`): counted seconds, and whether they count working time (wh, wd)."""
    match = _DEADLINE.match(text)
    if not match:
        raise SubtypeError(f"not a deadline: {text!r} (use 4wh, 1wd, 2h, 30m, 3d)")
    amount, unit = float(match.group(1)), match.group(2)
    if unit == "wh":
        return int(amount * 3600), True
    if unit == "wd":
        return int(amount * (WORKDAY[1] - WORKDAY[0]) * 60), True
    return int(amount * _UNITS[unit]), False


def match(subtypes: Sequence[Subtype], text: str) -> Subtype | None:
    """The first subtype (in the file's order) whose keyword the text holds."""
    return next((s for s in subtypes if any(k and k in text for k in s.keywords)), None)


def apply(policy: SlaPolicy, subtype: Subtype) -> SlaPolicy:
    """The case's policy with the subtype's resolve deadline: counted in working time (the policy's
    own hours, else 08:30–17:30) for wh/wd, round the clock (no quiet hours either) for plain hours
    and days. Only the resolve phase changes; a policy with `subtype_deadlines` off keeps its own."""
    named = replace(policy, name=f"{policy.name}/{subtype.id}")
    if not subtype.deadline or not policy.subtype_deadlines:
        return named
    seconds, working = parse_deadline(subtype.deadline)
    return replace(named, resolve_s=seconds, resolve_clock="working" if working else "round")
