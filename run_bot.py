"""gridbot's composition root and CLI. It builds every part from settings and wires them; no logic.

python run_bot.py [serve]            run the bot (HTTP on GRIDBOT_PORT, default 127.0.0.1:8000)
python run_bot.py nlu train          train the Rasa model if its data changed
python run_bot.py db upgrade         apply database migrations
python run_bot.py grids import FILE  replace the grid directory with FILE
python run_bot.py chat-link CHAT SENDER   print a web chat invitation link
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.webchat import chat_secret, sign
from bot.dispatcher import Dispatcher
from bot.handlers import build_registry
from bot.nlu.chain import FallbackNlu
from bot.nlu.port import Nlu
from bot.nlu.rasa_client import RasaNlu
from bot.nlu.rasa_process import RasaProcess
from bot.nlu.rules import RulesError, RulesNlu
from bot.nlu.training import TrainingError, ensure_model
from bot.outbox import OutboxNotifier, OutboxWorker, WebChannel
from bot.render import Renderer, TemplateError, Templates
from bot.services import Health, Services
from config.directory import GridFileError, load_directory_file
from config.policies import load_policies
from config.settings import Settings
from escalation.engine import EscalationEngine
from escalation.policy import PolicyError
from escalation.scheduler import AlwaysLeader, Leader, SchedulerTrigger
from storage.database import create_engine
from storage.directory import load_directory, save_directory
from storage.migrate import upgrade
from storage.redis_leader import RedisLeader
from storage.sql import SqlUnitOfWork
from tickets.directory import Directory, DirectoryError
from tickets.model import Ticket

log = logging.getLogger("gridbot")


def utcnow() -> datetime:
    return datetime.now(UTC)


def api_token(settings: Settings) -> str:
    """The configured token, or one generated once into var/api_token."""
    if settings.api_token:
        return settings.api_token
    path = settings.var_dir / "api_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


async def directory_from_db(engine: AsyncEngine, settings: Settings) -> Directory:
    """The stored directory; on first start, import GRIDBOT_DIRECTORY (the demo grid by default)."""
    stored = await load_directory(engine)
    if stored is not None:
        return stored
    directory = load_directory_file(settings.directory)
    await save_directory(engine, directory)
    log.info("imported grid directory from %s (%d nodes)", settings.directory, len(directory.nodes))
    return directory


class NluHealth:
    """ok when Rasa answers; starting until it first does; degraded (keyword rules) after that."""

    def __init__(self, rasa: RasaNlu) -> None:
        self._rasa = rasa
        self._seen_ready = False

    async def __call__(self) -> str:
        if await self._rasa.ready():
            self._seen_ready = True
            return "ok"
        return "degraded" if self._seen_ready else "starting"


@dataclass
class Runtime:
    """Everything `serve` started, so it can be stopped in reverse order."""

    engine: AsyncEngine
    scheduler: SchedulerTrigger
    outbox: OutboxWorker
    leader: Leader
    rasa_process: RasaProcess | None = None
    redis: Redis | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


async def start_nlu(settings: Settings) -> tuple[RasaNlu, RasaProcess | None]:
    if settings.nlu_url:
        return RasaNlu(settings.nlu_url, settings.nlu_timeout_s), None
    model = await asyncio.to_thread(ensure_model, settings.rasa_bin, settings.model_cache)
    process = RasaProcess(settings.rasa_bin, model, settings.rasa_port, settings.var_dir / "rasa.log")
    await process.start()
    return RasaNlu(process.url, settings.nlu_timeout_s), process


async def build(settings: Settings) -> tuple[Services, Runtime]:
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    directory = await directory_from_db(engine, settings)
    policies = load_policies(settings.policies)
    renderer = Renderer(Templates.load(settings.templates), lambda: directory)
    rasa, process = await start_nlu(settings)
    nlu: Nlu = FallbackNlu(rasa, RulesNlu.from_file(settings.keywords), settings.nlu_threshold)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    notifier = OutboxNotifier(renderer, lambda chat_id, person_id: "web")
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    leader: Leader = RedisLeader(redis) if redis else AlwaysLeader()
    escalation = EscalationEngine(uow, notifier, lambda: directory, utcnow)
    scheduler = SchedulerTrigger(escalation, leader, settings.audit_interval_s)
    outbox = OutboxWorker(uow, {"web": WebChannel()}, utcnow)

    def committed(tickets: list[Ticket]) -> None:
        for ticket in tickets:
            escalation.arm(ticket)
        outbox.wake()

    dispatcher = Dispatcher(
        uow=uow, nlu=nlu, handlers=build_registry(), notifier=notifier, renderer=renderer,
        directory=lambda: directory, policies=lambda: policies, now=utcnow, on_commit=committed,
    )  # fmt: skip
    health = Health(database=lambda: database_ok(engine), nlu=NluHealth(rasa), scheduler=lambda: scheduler.running)
    token = api_token(settings)
    services = Services(
        dispatcher=dispatcher, uow=uow, nlu=nlu, renderer=renderer, directory=lambda: directory,
        health=health, api_token=token, chat_secret=chat_secret(token),
        demo=settings.demo, max_text=settings.max_text,
    )  # fmt: skip
    runtime = Runtime(engine, scheduler, outbox, leader, process, redis)
    scheduler.start()
    await escalation.rearm_all()
    runtime.tasks.append(asyncio.create_task(outbox.run(settings.outbox_interval_s), name="outbox"))
    return services, runtime


async def database_ok(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def shutdown(runtime: Runtime) -> None:
    runtime.scheduler.shutdown()
    for task in runtime.tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with contextlib.suppress(Exception):
        await runtime.leader.resign()
    if runtime.rasa_process:
        await runtime.rasa_process.stop()
    if runtime.redis:
        await runtime.redis.aclose()
    await runtime.engine.dispose()


async def serve(settings: Settings) -> None:
    services, runtime = await build(settings)
    log.info("gridbot on http://%s:%d/chat  (API token in %s)", settings.host, settings.port,
             "GRIDBOT_API_TOKEN" if settings.api_token else settings.var_dir / "api_token")  # fmt: skip
    config = uvicorn.Config(create_app(services), host=settings.host, port=settings.port, log_level="warning")
    try:
        await uvicorn.Server(config).serve()
    finally:
        await shutdown(runtime)


async def import_grids(settings: Settings, path: Path) -> None:
    directory = load_directory_file(path)
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        await save_directory(engine, directory)
    finally:
        await engine.dispose()
    grids = sum(1 for n in directory.nodes.values() if n.chat_id)
    print(f"imported {path}: {len(directory.nodes)} nodes, {grids} micro-grids, {len(directory.people)} people")
    print("restart running bots to pick up the new directory")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_bot.py", description="gridbot: incident bot for grid governance")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the bot (default)")
    nlu = sub.add_parser("nlu", help="NLU model").add_subparsers(dest="action", required=True)
    nlu.add_parser("train", help="train the Rasa model if its data changed")
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")
    grids = sub.add_parser("grids", help="grid directory").add_subparsers(dest="action", required=True)
    grids.add_parser("import", help="replace the directory with a grid YAML file").add_argument("file", type=Path)
    link = sub.add_parser("chat-link", help="print a web chat invitation link")
    link.add_argument("chat_id")
    link.add_argument("sender")
    return p


CONFIG_ERRORS = (GridFileError, PolicyError, TemplateError, RulesError, TrainingError, DirectoryError)


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except CONFIG_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    command = args.command or "serve"
    if command == "serve":
        asyncio.run(serve(settings))
    elif command == "nlu":
        print(ensure_model(settings.rasa_bin, settings.model_cache))
    elif command == "db":
        upgrade(settings.database_url)
        print("database is at the latest migration")
    elif command == "grids":
        asyncio.run(import_grids(settings, args.file))
    elif command == "chat-link":
        token = sign(chat_secret(api_token(settings)), args.chat_id, args.sender)
        print(f"http://{settings.host}:{settings.port}/chat?token={token}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
