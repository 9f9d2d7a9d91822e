"""What the admin web needs beyond the bot's services, built by run_bot.py (the composition root)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from admin.auth import AdminAuth
from bot.render import Templates
from escalation.calendar import Holidays
from escalation.policy import PolicyBook
from tickets.directory import Directory
from tickets.points import PointsPolicy

T = TypeVar("T")


@dataclass
class EditableFile(Generic[T]):
    """A YAML file admins edit as text: `parse` validates (raises ValueError with the reason) and
    `use` makes the new value live in this process. Comments in the file survive (it is saved as typed)."""

    path: Path
    parse: Callable[[str], T]
    use: Callable[[T], None]

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8") if self.path.exists() else ""

    def save(self, text: str) -> T:
        value = self.parse(text)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)
        self.use(value)
        return value


@dataclass
class DirectoryIO:
    """The grid directory as files: parse a grid YAML, dump one, and replace the stored directory."""

    parse_yaml: Callable[[Any], Directory]  # the loaded YAML document → a validated Directory
    dump_yaml: Callable[[Directory], dict[str, Any]]
    replace: Callable[[Directory], Awaitable[None]]  # store it and make it live in this process


@dataclass
class AdminServices:
    auth: AdminAuth
    policies: EditableFile[PolicyBook]
    live_policies: Callable[[], PolicyBook]
    templates: EditableFile[Templates]
    directory_io: DirectoryIO
    holidays: EditableFile[Holidays]  # the 放假/调休 arrangements for years chinese-calendar lacks
    now: Callable[[], datetime]
    secure_cookies: bool = True  # the Secure flag on the admin cookies (config.settings.secure_cookies decides)
    points_policy: Callable[[], PointsPolicy] = PointsPolicy  # the live points (积分) rules, shown on the 积分 page
    map_tiles: str = ""  # GRIDBOT_MAP_TILES: the site's tile server URL ({z}/{x}/{y}); empty: boundaries only
    position_s: float = 12 * 3600  # GRIDBOT_MAP_POSITION_H: how long a shared position stays on the map
