"""What the HTTP layer needs, built by the composition root (run_bot.py) and passed in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.bulletin_pdf import DEFAULT_FONT
from bot.city_intake import CityIntake
from bot.dispatcher import Dispatcher
from bot.metrics import Metrics
from bot.nlu.catalog import IntentFiles
from bot.nlu.port import Nlu
from bot.nlu.versions import ModelManager
from bot.render import Renderer
from escalation.cases import CaseService
from escalation.routines import Routines
from tickets.directory import Directory
from tickets.ports import UnitOfWorkFactory


@dataclass
class Health:
    database: Callable[[], Awaitable[bool]]
    nlu: Callable[[], Awaitable[str]]  # "ok" | "degraded" (keyword fallback) | "starting"
    scheduler: Callable[[], bool]
    calendar: Callable[[], str | None] = lambda: None  # the holiday coverage warning (None: the next 60 days known)


@dataclass(frozen=True)
class MediaQuota:
    """What one web chat token (a sender in a chat) may upload per `span_s`: `count` photos and `bytes`
    in all (0: no limit). Generous for a real resident or a busy worker, it bounds what one leaked or
    demo-minted token can put on the disk; kept in the database, so every bot process counts alike."""

    count: int = 50
    bytes: int = 100 * 1024 * 1024
    span_s: int = 24 * 3600


@dataclass
class Services:
    dispatcher: Dispatcher
    uow: UnitOfWorkFactory
    nlu: Nlu
    renderer: Renderer
    directory: Callable[[], Directory]
    cases: CaseService  # the one way to change a case (the admin web's actions use it too)
    health: Health
    api_token: str
    chat_secret: bytes
    demo: bool
    max_text: int = 2000
    models: ModelManager | None = None  # NLU versions and the gated retrain
    intents: IntentFiles | None = None  # the admin-edited intent files
    routines: Routines | None = None  # 报平安 reminder, digests, monthly bulletins
    media_dir: Path | None = None  # photos uploaded through the web chat
    media_quota: MediaQuota = field(default_factory=MediaQuota)
    metrics: Metrics = field(default_factory=Metrics)
    pdf_font: Path = DEFAULT_FONT  # the Chinese font of PDF bulletins (GRIDBOT_PDF_FONT)
    city: CityIntake | None = None  # cases from the city platform (12345): POST /api/v1/cases
