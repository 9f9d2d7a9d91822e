"""Who may use the admin web and what they see: accounts, their roles and jurisdictions, the
login lock, and the audit trail of every change. Pure: the web and the database are adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from tickets.directory import Directory, Role
from tickets.model import Tier


class AccountRole(StrEnum):
    ADMIN = "admin"  # everything, every grid
    DISTRICT = "district"  # 区指挥中心: every grid of the district, tickets and figures
    TOWNSHIP = "township"  # one township's grids
    COMMUNITY = "community"  # one community's grids


OFFICER_ROLES = {Tier.DISTRICT: AccountRole.DISTRICT, Tier.TOWNSHIP: AccountRole.TOWNSHIP,
                 Tier.COMMUNITY: AccountRole.COMMUNITY}  # fmt: skip

MAX_FAILURES = 5  # wrong passwords in a row before the account locks
LOCK_FOR = timedelta(minutes=15)


class AccountError(ValueError):
    """An account cannot be created this way; the message says why (in Chinese, for the form)."""


@dataclass(frozen=True)
class Account:
    username: str
    person_id: str  # the directory person the account acts as (timeline entries name them)
    role: AccountRole
    password_hash: str
    created_at: datetime
    failures: int = 0
    locked_until: datetime | None = None
    disabled: bool = False

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def failed(self, now: datetime) -> Account:
        """One more wrong password; the fifth in a row locks the account for LOCK_FOR."""
        failures = self.failures + 1
        if failures >= MAX_FAILURES:
            return replace(self, failures=0, locked_until=now + LOCK_FOR)
        return replace(self, failures=failures)

    def succeeded(self) -> Account:
        return replace(self, failures=0, locked_until=None)


def role_for(directory: Directory, person_id: str) -> AccountRole:
    """An account's role follows its person: admins are admins, officers take their node's tier."""
    person = directory.person(person_id)
    if person is None:
        raise AccountError(f"名录中没有人员 {person_id}")
    if person.role is Role.ADMIN:
        return AccountRole.ADMIN
    node = directory.nodes.get(person.node or "")
    if person.role is not Role.OFFICER or node is None or node.tier not in OFFICER_ROLES:
        raise AccountError(f"{person.name} 不是区、街道（乡镇）或社区（村）的工作人员，不能开通后台账号")
    return OFFICER_ROLES[node.tier]


def jurisdiction(directory: Directory, account: Account) -> frozenset[str] | None:
    """The micro-grids whose cases the account may see and act on; None means every grid."""
    if account.role is AccountRole.ADMIN:
        return None
    return frozenset(directory.grids_served(account.person_id))


def may_see(directory: Directory, account: Account, grid: str) -> bool:
    grids = jurisdiction(directory, account)
    return grids is None or grid in grids


@dataclass(frozen=True)
class AuditEntry:
    """One change made through the admin web: who, when, what, and the value before and after."""

    at: datetime
    actor: str  # username
    action: str  # e.g. ticket.reassign, policy.save, directory.import
    target: str  # e.g. ticket:12, policies, intent:report_water
    before: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    after: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    id: int = 0
