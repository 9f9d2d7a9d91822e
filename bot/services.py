"""What the HTTP layer needs, built by the composition root (run_bot.py) and passed in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter

from bot.dispatcher import Dispatcher
from bot.metrics import Metrics
from bot.nlu.catalog import IntentFiles
from bot.nlu.port import Nlu
from bot.nlu.versions import ModelManager
from bot.render import Renderer
from escalation.routines import Routines
from tickets.directory import Directory
from tickets.model import Ticket
from tickets.ports import Notifier, UnitOfWorkFactory


@dataclass
class Health:
    database: Callable[[], Awaitable[bool]]
    nlu: Callable[[], Awaitable[str]]  # "ok" | "degraded" (keyword fallback) | "starting"
    scheduler: Callable[[], bool]


@dataclass
class Services:
    dispatcher: Dispatcher
    uow: UnitOfWorkFactory
    nlu: Nlu
    renderer: Renderer
    directory: Callable[[], Directory]
    health: Health
    api_token: str
    chat_secret: bytes
    demo: bool
    max_text: int = 2000
    models: ModelManager | None = None  # NLU versions and the gated retrain
    intents: IntentFiles | None = None  # the admin-edited intent files
    routines: Routines | None = None  # 报平安 reminder, digests, monthly bulletins
    media_dir: Path | None = None  # photos uploaded through the web chat
    routers: list[APIRouter] = field(default_factory=list)  # channel webhooks (Telegram …)
    metrics: Metrics = field(default_factory=Metrics)
    notifier: Notifier | None = None  # for changes made outside a message (the admin web's actions)
    committed: Callable[[list[Ticket]], None] = lambda tickets: None  # arm their timers, wake the outbox
