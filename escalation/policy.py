"""A book of SLA policies: one default plus per-incident-type overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from tickets.model import SlaPolicy, Tier


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class PolicyBook:
    default: SlaPolicy
    by_type: Mapping[str, SlaPolicy] = field(default_factory=lambda: MappingProxyType({}))

    def for_type(self, ticket_type: str) -> SlaPolicy:
        return self.by_type.get(ticket_type, self.default)


def validate(policy: SlaPolicy) -> SlaPolicy:
    """Reject policies that would never fire or would fire in a nonsensical order."""
    where = f"policy {policy.name!r}"
    if policy.accept_s <= 0 or policy.resolve_s <= 0:
        raise PolicyError(f"{where}: accept and resolve must be positive durations")
    if any(not 0 < f < 1 for f in policy.nag_at):
        raise PolicyError(f"{where}: nag_at entries are fractions between 0 and 1, got {list(policy.nag_at)}")
    if policy.location_s < 0 or policy.feedback_s <= 0:
        raise PolicyError(f"{where}: ask_location must be 0 (never ask) or positive, feedback positive")
    if policy.quiet is not None and policy.quiet[0] == policy.quiet[1]:
        raise PolicyError(f"{where}: quiet_hours start and end are the same")
    if policy.working is not None and not policy.working[0] < policy.working[1]:
        raise PolicyError(f"{where}: working_time must start before it ends on the same day (08:30-17:30)")
    if any(not 0 <= s.repeat <= 10 for s in policy.ladder):
        raise PolicyError(f"{where}: a ladder step's repeat is between 0 and 10")
    if not policy.ladder:
        raise PolicyError(f"{where}: the ladder needs at least one step")
    tiers = [s.tier for s in policy.ladder]
    if Tier.GRID in tiers:
        raise PolicyError(f"{where}: the ladder starts above the grid (community, township, ...)")
    if len(set(tiers)) != len(tiers):
        raise PolicyError(f"{where}: a tier appears twice in the ladder")
    if any(s.ack_s <= 0 for s in policy.ladder):
        raise PolicyError(f"{where}: every ladder step needs a positive ack time")
    return policy
