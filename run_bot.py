"""gridbot's composition root and CLI. It builds every part from settings and wires them; no logic.

python run_bot.py [serve]            run the bot (HTTP on GRIDBOT_PORT, default 127.0.0.1:8000)
python run_bot.py nlu train          validate config/intents and train its model if it changed
python run_bot.py nlu eval --data F  score the NLU stack on a labelled CSV (--json OUT)
python run_bot.py nlu versions       list model versions, their scores and gate verdicts
python run_bot.py nlu activate V     make version V active (restores its intent files)
python run_bot.py db upgrade         apply database migrations
python run_bot.py admin reset-password USER [--password-env VAR]   new admin web password (prompt/stdin)
python run_bot.py grids import FILE  replace the grid directory with FILE
python run_bot.py points rebuild     derive the points ledger (积分) from every timeline again
python run_bot.py chat-link CHAT SENDER   print a web chat invitation link

`serve` builds, in this order: storage, NLU, the case service and the dispatcher, channels, HTTP.
Each part gets what it needs through its constructor. Factories live in `wiring.parts`, the
other commands in `wiring.commands`, the NLU's life in `bot.nlu.lifecycle`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import uvicorn
import uvloop
from fastapi import APIRouter, FastAPI

from admin.web import BODY_LIMITS as ADMIN_BODY_LIMITS
from admin.web import build_router as admin_router
from bot.app import create_app
from bot.channels.telegram import build_router as telegram_router
from bot.channels.webchat import chat_secret
from bot.channels.wechat_oa import build_router as wechat_router
from bot.channels.wecom import build_router as wecom_router
from bot.city_intake import CityIntake
from bot.directory import RoutedDirectory
from bot.dispatcher import Dispatcher
from bot.faq import FaqError, load_faq
from bot.handlers import build_registry
from bot.logs import configure as configure_logs
from bot.metrics import Metrics
from bot.nlu import lifecycle
from bot.nlu.catalog import IntentError, IntentFiles
from bot.nlu.evaluate import EvalDataError
from bot.nlu.training import TrainingError
from bot.outbox import OutboxNotifier, OutboxWorker, Platform
from bot.render import Renderer, TemplateError, Templates
from bot.services import Health, MediaQuota, Services
from bot.watchdog import watching
from config.directory import GridFileError
from config.holidays import HolidayError
from config.points import load_points
from config.policies import load_policies
from config.settings import Settings, api_token
from escalation import figures
from escalation.cases import CaseService
from escalation.engine import EscalationEngine
from escalation.figures import FigureKeeper
from escalation.points import PointsLedger
from escalation.policy import PolicyError
from escalation.routines import Routines
from escalation.scheduler import SchedulerTrigger
from storage.database import autocommit
from storage.sql import SqlUnitOfWork
from tickets.directory import DirectoryError
from tickets.points import PointsError
from wiring import commands
from wiring.city import CitySettingsError, city_feed, city_pusher
from wiring.parts import (
    Replaceable,
    admin_of,
    bulletin_files,
    calendar_check,
    calendar_warning,
    database,
    database_ok,
    directory_from_db,
    leader_of,
    load_calendar,
    names_of,
    nlu_config,
    nonce_store,
    redis_of,
    schedule_routines,
    telegram_of,
    token_store,
    units,
    wechat_of,
    wecom_of,
)

log = logging.getLogger("gridbot")


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextlib.asynccontextmanager
async def running(settings: Settings, utcnow: Callable[[], datetime] = utcnow) -> AsyncIterator[FastAPI]:
    """Build everything, start the background work, yield the HTTP app; stop it all in reverse.
    `utcnow` is the clock (tests drive the whole bot in-process on a clock they advance; the
    escalation audit is `app.state.audit`)."""
    async with contextlib.AsyncExitStack() as stack:
        # storage
        engine = await stack.enter_async_context(database(settings))
        uow = units(engine)
        single_statements = autocommit(engine)
        directory = await directory_from_db(engine, settings)
        redis, namespace = redis_of(settings)
        if redis is not None:
            stack.push_async_callback(redis.aclose)
        leader = leader_of(redis, engine, namespace)
        stack.push_async_callback(leader.resign)
        # NLU
        nlu = await lifecycle.start(nlu_config(settings))
        stack.push_async_callback(nlu.stop)
        routed = RoutedDirectory(directory, nlu.nlu)
        templates = Templates.load(settings.templates)
        renderer = Renderer(templates, routed, lambda ticket_type: nlu.nlu.catalog.display_name(ticket_type),
                            lambda ticket_type: nlu.nlu.catalog.ticket(ticket_type).code)  # fmt: skip
        policies = Replaceable(load_policies(settings.policies))
        faq = load_faq(settings.faq)
        load_calendar(settings)
        check_calendar = calendar_check(utcnow)
        await check_calendar()
        # the case service, the timers and the dispatcher
        notifier = OutboxNotifier(renderer)
        outbox_wake = asyncio.Event()
        scheduler = SchedulerTrigger(leader, settings.audit_interval_s)
        stack.callback(scheduler.shutdown)
        points = Replaceable(load_points(settings.points))
        cases = CaseService(notifier, utcnow, scheduler, outbox_wake.set, PointsLedger(points.get, routed),
                            feed=city_feed(settings), figures=FigureKeeper(routed))  # fmt: skip
        await figures.rebuild_once(uow, routed(), utcnow())  # once, after the migration that added the rollups
        escalation = EscalationEngine(uow, cases, routed, utcnow)
        metrics = Metrics()
        dispatcher = Dispatcher(
            uow=uow, autocommit_uow=lambda: SqlUnitOfWork(single_statements), nlu=nlu.nlu, handlers=build_registry(),
            notifier=notifier, renderer=renderer, directory=routed, policies=policies.get,
            catalog=lambda: nlu.nlu.catalog, now=utcnow, cases=cases, faq=lambda: faq,
            followup_s=settings.followup_s, metrics=metrics,
        )  # fmt: skip
        # channels
        telegram = telegram_of(settings, uow, routed, redis, namespace, dispatcher.handle)
        tokens = token_store(redis, namespace)  # WeChat/WeCom access tokens shared by every process
        nonces = nonce_store(redis, namespace)  # callback nonces seen by every process (replays)
        wechat = wechat_of(settings, uow, routed, tokens, dispatcher.handle, nonces)
        wecom = wecom_of(settings, uow, routed, tokens, dispatcher.handle, nonces, redis, namespace, utcnow)
        platforms: list[Platform] = [c for c in (telegram, wechat, wecom) if c is not None]
        files = bulletin_files(uow, renderer.name, settings.pdf_font)  # the monthly bulletin's PDF for its officers
        outbox = OutboxWorker(uow, platforms, utcnow, on_attempt=metrics.delivered, wake=outbox_wake, files=files)
        metrics.watch_cache(nlu.nlu.cache.figures)
        routines = Routines(uow, notifier, routed, utcnow, names_of(renderer))
        pusher = await stack.enter_async_context(city_pusher(settings, uow, utcnow, metrics))  # None: pushes off
        # HTTP
        token = api_token(settings)
        services = Services(
            dispatcher=dispatcher, uow=uow, nlu=nlu.nlu, renderer=renderer, directory=routed, cases=cases,
            health=Health(database=lambda: database_ok(engine), nlu=nlu.health(), scheduler=lambda: scheduler.running,
                          calendar=calendar_warning(utcnow)),
            api_token=token, chat_secret=chat_secret(token), demo=settings.demo, max_text=settings.max_text,
            models=nlu.models, intents=IntentFiles(settings.intents), routines=routines,
            media_dir=settings.var_dir / "media", metrics=metrics, pdf_font=settings.pdf_font,
            media_quota=MediaQuota(settings.media_quota_count, settings.media_quota_mb * 1024 * 1024),
            city=CityIntake(uow, cases, routed, policies.get, lambda: nlu.nlu.catalog, utcnow),
        )  # fmt: skip
        routers: list[APIRouter] = [
            admin_router(services, await admin_of(settings, engine, routed, policies, renderer, utcnow, points.get))
        ]
        routers += [telegram_router(telegram, settings.telegram_secret or "")] if telegram else []
        routers += [wechat_router(wechat)] if wechat else []
        routers += [wecom_router(wecom)] if wecom else []
        # background work
        schedule_routines(settings, scheduler, routines)
        scheduler.add_routine("calendar-check", check_calendar, hour=9, minute=0)
        scheduler.start(escalation)
        await escalation.rearm_all()
        tasks = [outbox.run(settings.outbox_interval_s), nlu.retrain_if_pending()]
        tasks += [pusher.run(settings.city_push_interval_s)] if pusher else []
        if telegram is not None:
            tasks.append(telegram.start(settings.telegram_polling))
        await stack.enter_async_context(background(tasks))
        app = create_app(services, routers, body_limits=ADMIN_BODY_LIMITS)
        app.state.audit, app.state.nlu = escalation.audit, nlu.nlu
        yield app


@contextlib.asynccontextmanager
async def background(coroutines: list[Coroutine[Any, Any, Any]]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def settle_garbage_collector() -> None:
    """Move what start-up built (directory, catalogs, SQLAlchemy's tables and compiled statements,
    FastAPI's routes) out of the collector's sight, and collect young objects less often: a
    request makes many short-lived objects, and each full collection walked all of start-up's."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


async def serve(settings: Settings) -> None:
    async with running(settings) as app:
        log.info("gridbot on http://%s:%d/chat  (API token in %s)", settings.host, settings.port,
                 "GRIDBOT_API_TOKEN" if settings.api_token else settings.var_dir / "api_token")  # fmt: skip
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")
        settle_garbage_collector()
        with watching(settings.loop_watchdog_ms):
            await uvicorn.Server(config).serve()


CONFIG_ERRORS = (GridFileError, PolicyError, TemplateError, IntentError, TrainingError, DirectoryError, EvalDataError,
                 FaqError, HolidayError, PointsError, CitySettingsError)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    try:
        return run(commands.parser().parse_args(argv))
    except CONFIG_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    configure_logs(settings.log_level, settings.log_format)
    command = args.command or "serve"
    if command == "serve":
        uvloop.run(serve(settings))  # libuv's event loop: measured faster under load (bench/ingest.py)
    elif command == "nlu":
        return asyncio.run(commands.nlu(settings, args))
    elif command == "admin":
        return asyncio.run(commands.admin(settings, args))
    elif command == "db":
        commands.database_upgrade(settings)
    elif command == "grids":
        asyncio.run(commands.import_grids(settings, args.file))
    elif command == "bulletin":
        asyncio.run(commands.bulletin(settings, args.month))
    elif command == "points":
        asyncio.run(commands.points_rebuild(settings))
    elif command == "figures":
        asyncio.run(commands.figures_rebuild(settings))
    elif command == "wecom-appchat":
        asyncio.run(commands.wecom_appchat(settings, args.appchat_id, args.chat_id))
    elif command == "wecom-webhook":
        return asyncio.run(commands.wecom_webhook(settings, args.key, args.chat_id))
    elif command == "wechat-qr":
        asyncio.run(commands.wechat_qr(settings, args.chat_id))
    elif command == "telegram-code":
        commands.telegram_code(settings, args.chat, args.person)
    elif command == "chat-link":
        commands.chat_link(settings, args.chat_id, args.sender)
    return 0


if __name__ == "__main__":
    sys.exit(main())
