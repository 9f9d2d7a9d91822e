"""gridbot's composition root and CLI. It builds every part from settings and wires them; no logic.

python run_bot.py [serve]            run the bot (HTTP on GRIDBOT_PORT, default 127.0.0.1:8000)
python run_bot.py nlu train          validate config/intents and train its model if it changed
python run_bot.py nlu eval --data F  score the NLU stack on a labelled CSV (--json OUT)
python run_bot.py nlu versions       list model versions, their scores and gate verdicts
python run_bot.py nlu activate V     make version V active (restores its intent files)
python run_bot.py db upgrade         apply database migrations
python run_bot.py grids import FILE  replace the grid directory with FILE
python run_bot.py chat-link CHAT SENDER   print a web chat invitation link
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import uvicorn
import uvloop
import yaml
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot

from admin.auth import AdminAuth
from admin.services import AdminServices, DirectoryIO, EditableFile
from admin.web import build_router as admin_router
from bot.app import create_app
from bot.channels.telegram import TelegramGateway, bind_code, identity_code
from bot.channels.telegram import build_router as telegram_router
from bot.channels.webchat import chat_secret, sign
from bot.channels.wechat_oa import WechatGateway
from bot.channels.wechat_oa import build_router as wechat_router
from bot.channels.wecom import APPCHAT as WECOM_APPCHAT
from bot.channels.wecom import WecomGateway
from bot.channels.wecom import build_router as wecom_router
from bot.dispatcher import Dispatcher
from bot.faq import FaqError, load_faq
from bot.handlers import build_registry
from bot.logs import configure as configure_logs
from bot.metrics import Metrics
from bot.nlu.catalog import Catalog, IntentError, IntentFiles, load_catalog
from bot.nlu.chain import FallbackNlu
from bot.nlu.evaluate import ApiNlu, EvalDataError, evaluate, predict, read_rows, report, write_errors
from bot.nlu.metrics import score
from bot.nlu.port import Nlu
from bot.nlu.rasa_client import RasaNlu, RasaPool, rasa_of
from bot.nlu.rasa_process import RasaProcess, free_port
from bot.nlu.rules import RulesNlu
from bot.nlu.training import TrainingError, ensure_model, prepare, train
from bot.nlu.versions import Live, ModelManager, Registry, VersionRecord
from bot.outbox import MirrorChannel, OutboxNotifier, OutboxWorker, WebChannel
from bot.render import Renderer, TemplateError, Templates
from bot.services import Health, Services
from config.directory import GridFileError, checked_directory, dump_directory, load_directory_file
from config.policies import load_policies, parse_policies
from config.settings import Settings
from escalation.engine import EscalationEngine
from escalation.policy import PolicyBook, PolicyError
from escalation.routines import Routines
from escalation.scheduler import AlwaysLeader, Leader, SchedulerTrigger
from storage.database import autocommit, create_engine, normalise_url
from storage.directory import load_directory, save_directory
from storage.migrate import upgrade
from storage.pg_leader import PgAdvisoryLeader
from storage.redis_leader import RedisLeader
from storage.redis_ratelimit import RedisRateLimiter
from storage.redis_tokens import RedisTokenStore
from storage.sql import SqlUnitOfWork
from tickets.directory import Directory, DirectoryError
from tickets.model import Ticket

log = logging.getLogger("gridbot")
T = TypeVar("T")


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

    def __init__(self, rasa: RasaNlu | RasaPool) -> None:
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


class RoutedDirectory:
    """The directory with the intent files' `ticket.department` routes applied, rebuilt when the catalog changes."""

    def __init__(self, directory: Directory, nlu: FallbackNlu) -> None:
        self._base = directory
        self._nlu = nlu
        self._cache: tuple[Catalog, Directory] | None = None

    def replace(self, directory: Directory) -> None:
        """A new directory (the admin web's import) is live at once in this process."""
        self._base = directory
        self._cache = None

    def __call__(self) -> Directory:
        catalog = self._nlu.catalog
        if self._cache is None or self._cache[0] is not catalog:
            self._cache = (catalog, self._base.with_routes(catalog.departments()))
        return self._cache[1]


@dataclass
class NluParts:
    rasa: RasaNlu | RasaPool
    process: RasaProcess | None
    catalog: Catalog
    pending: bool  # the intent files differ from the active version: retrain (gated) in the background


def registry_of(settings: Settings) -> Registry:
    return Registry(settings.var_dir / "nlu", settings.model_cache)


async def start_nlu(settings: Settings, registry: Registry) -> NluParts:
    """Serve the active version at once; with none yet, train the intent files first (no gate to pass)."""
    build = prepare(settings.intents, settings.nlu_pipeline, settings.model_cache)
    active = registry.active()
    if active and active != build.version:
        model, catalog, pending = registry.model(active), load_catalog(registry.intents(active)), True
        log.info("serving NLU version %s; config/intents changed (%s): retraining in the background", active,
                 build.version)  # fmt: skip
    else:
        seconds = await train(build, settings.rasa_bin)
        registry.snapshot(build.version, settings.intents)
        record = registry.get(build.version) or VersionRecord(
            build.version, build.pipeline, utcnow().isoformat(timespec="seconds"), build.examples,
            train_seconds=round(seconds, 1),
        )  # fmt: skip
        registry.set_active(build.version)
        registry.save(replace(record, status="active"))
        model, catalog, pending = build.model, build.catalog, False
    if settings.nlu_url:
        return NluParts(rasa_of(settings.nlu_url, settings.nlu_timeout_s), None, catalog, pending)
    process = RasaProcess(settings.rasa_bin, model, settings.rasa_port, settings.var_dir / "rasa.log")
    await process.start()
    return NluParts(RasaNlu(process.url, settings.nlu_timeout_s), process, catalog, pending)


def model_manager(settings: Settings, registry: Registry, parts: NluParts, nlu: FallbackNlu) -> ModelManager:
    async def load_model(model: Path) -> None:
        await parts.rasa.load_model(model)
        if parts.process:
            parts.process.model = model  # a restart after a crash loads the active model

    async def candidate(model: Path, catalog: Catalog) -> tuple[Nlu, Any]:
        return await candidate_stack(settings, model, catalog)

    live = Live(load_model, lambda catalog: nlu.use(RulesNlu(catalog)), candidate, nlu)
    return ModelManager(registry, settings.intents, settings.nlu_pipeline, settings.rasa_bin,
                        settings.nlu_test_data, live)  # fmt: skip


async def candidate_stack(settings: Settings, model: Path, catalog: Catalog) -> tuple[Nlu, Any]:
    """A throw-away Rasa server for `model` and the stack around it, for evaluation."""
    log_file = settings.var_dir / "rasa-candidate.log"
    process = RasaProcess(settings.rasa_bin, model, free_port(), log_file)
    await process.start()
    if not await process.wait_ready():
        await process.stop()
        raise TrainingError(f"the candidate Rasa server did not start; see {log_file}")
    rasa = RasaNlu(process.url, max(settings.nlu_timeout_s, 10.0))

    async def stop() -> None:
        await rasa.aclose()
        await process.stop()

    return FallbackNlu(rasa, RulesNlu(catalog), settings.nlu_threshold), stop


async def nlu_stack(settings: Settings) -> tuple[FallbackNlu, ModelManager | None, NluParts | None]:
    """Rasa (our own process, or GRIDBOT_NLU_URL) with the keyword fallback; or, with
    GRIDBOT_NLU=rules, the keyword rules alone (no model, no retraining: benchmarks, tiny sites)."""
    if settings.nlu == "rules":
        rules = RulesNlu(load_catalog(settings.intents))
        return FallbackNlu(rules, rules, 0.0), None, None
    registry = registry_of(settings)
    parts = await start_nlu(settings, registry)
    nlu = FallbackNlu(parts.rasa, RulesNlu(parts.catalog), settings.nlu_threshold)
    return nlu, model_manager(settings, registry, parts, nlu), parts


async def rules_ok() -> str:
    return "ok"


async def build(settings: Settings) -> tuple[Services, Runtime]:
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    directory = await directory_from_db(engine, settings)
    policies = Holder(load_policies(settings.policies))
    templates = Templates.load(settings.templates)
    faq = load_faq(settings.faq)
    nlu, models, parts = await nlu_stack(settings)
    routed = RoutedDirectory(directory, nlu)
    renderer = Renderer(templates, routed, lambda ticket_type: nlu.catalog.display_name(ticket_type))

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    single_statements = autocommit(engine)

    def store_uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(single_statements)

    notifier = OutboxNotifier(renderer, lambda chat_id, person_id: "web")
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    namespace = redis_namespace(settings)
    leader = leader_of(redis, engine, namespace)
    escalation = EscalationEngine(uow, notifier, routed, utcnow)
    scheduler = SchedulerTrigger(escalation, leader, settings.audit_interval_s)
    token = api_token(settings)
    telegram = telegram_of(settings, uow, routed, redis, namespace)
    tokens = RedisTokenStore(redis, f"{namespace}:token") if redis else None  # shared by every process
    wechat = wechat_of(settings, uow, routed, tokens)
    wecom = wecom_of(settings, uow, routed, tokens)
    mirrors: list[Any] = [c for c in (telegram, wechat, wecom) if c is not None]
    metrics = Metrics()
    outbox = OutboxWorker(uow, {"web": MirrorChannel(WebChannel(), mirrors)}, utcnow, on_attempt=metrics.delivered)

    def committed(tickets: list[Ticket]) -> None:
        for ticket in tickets:
            escalation.arm(ticket)
        outbox.wake()

    dispatcher = Dispatcher(
        uow=uow, store_uow=store_uow, nlu=nlu, handlers=build_registry(), notifier=notifier, renderer=renderer,
        directory=routed, policies=policies.get, catalog=lambda: nlu.catalog, now=utcnow,
        on_commit=committed, faq=lambda: faq, followup_s=settings.followup_s, metrics=metrics,
    )  # fmt: skip
    health = Health(
        database=lambda: database_ok(engine),
        nlu=NluHealth(parts.rasa) if parts else rules_ok,
        scheduler=lambda: scheduler.running,
    )
    services = Services(
        dispatcher=dispatcher, uow=uow, nlu=nlu, renderer=renderer, directory=routed,
        health=health, api_token=token, chat_secret=chat_secret(token),
        demo=settings.demo, max_text=settings.max_text, models=models, intents=IntentFiles(settings.intents),
        media_dir=settings.var_dir / "media", metrics=metrics, notifier=notifier, committed=committed,
    )  # fmt: skip
    admin = await admin_of(settings, engine, uow, routed, policies, renderer)
    services.routers.append(admin_router(services, admin))
    routines = Routines(uow, notifier, routed, utcnow, names_of(renderer))
    services.routines = routines
    if telegram is not None:
        telegram.attach(dispatcher.handle)
        services.routers.append(telegram_router(telegram, settings.telegram_secret or ""))
    if wechat is not None:
        wechat.attach(dispatcher.handle)
        services.routers.append(wechat_router(wechat))
    if wecom is not None:
        wecom.attach(dispatcher.handle)
        services.routers.append(wecom_router(wecom))
    schedule_routines(settings, scheduler, routines)
    runtime = Runtime(engine, scheduler, outbox, leader, parts.process if parts else None, redis)
    if telegram is not None:
        runtime.tasks.append(asyncio.create_task(telegram.start(settings.telegram_polling), name="telegram"))
    scheduler.start()
    await escalation.rearm_all()
    runtime.tasks.append(asyncio.create_task(outbox.run(settings.outbox_interval_s), name="outbox"))
    if parts and parts.pending and parts.process and models:
        runtime.tasks.append(asyncio.create_task(retrain_when_ready(parts.process, models), name="nlu-pending"))
    return services, runtime


class Holder(Generic[T]):
    """A value the admin web replaces while the bot runs (the policy book); readers call `get`."""

    def __init__(self, value: T) -> None:
        self.value = value

    def get(self) -> T:
        return self.value

    def set(self, value: T) -> None:
        self.value = value


def policies_from_text(text: str) -> PolicyBook:
    try:
        return parse_policies(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise PolicyError(f"missing or wrong field: {exc}") from exc


async def admin_of(
    settings: Settings, engine: AsyncEngine, uow: Callable[[], SqlUnitOfWork], directory: RoutedDirectory,
    policies: Holder[PolicyBook], renderer: Renderer,
) -> AdminServices:  # fmt: skip
    """The admin web's parts; creates the first admin from GRIDBOT_ADMIN_USER/PASSWORD if missing."""
    auth = AdminAuth(uow, directory, utcnow)
    if (
        settings.admin_user
        and settings.admin_password
        and await auth.ensure_first_admin(settings.admin_user, settings.admin_password)
    ):
        log.info("created admin account %s (GRIDBOT_ADMIN_USER)", settings.admin_user)

    async def replace_directory(new: Directory) -> None:
        await save_directory(engine, new)
        directory.replace(new)

    def set_templates(new: Templates) -> None:
        renderer.templates = new

    return AdminServices(
        auth=auth,
        policies=EditableFile(settings.policies, policies_from_text, policies.set),
        live_policies=policies.get,
        templates=EditableFile(settings.templates, lambda text: Templates.parse(text, "templates.yaml"), set_templates),
        directory_io=DirectoryIO(checked_directory, dump_directory, replace_directory),
        now=utcnow,
        secure_cookies=settings.admin_secure_cookies,
    )


def telegram_of(
    settings: Settings,
    uow: Callable[[], SqlUnitOfWork],
    directory: Callable[[], Directory],
    redis: Redis | None,
    namespace: str = "gridbot",
) -> TelegramGateway | None:
    """The Telegram channel when a token is set (the webhook also needs GRIDBOT_TELEGRAM_SECRET).
    With Redis, its send limits (20/min per group, 30/s overall) hold across every bot process."""
    if not settings.telegram_token:
        return None
    bot = Bot(settings.telegram_token, base_url=f"{settings.telegram_api_base.rstrip('/')}/bot")
    limiter = RedisRateLimiter(redis, "telegram", 20, 60, 30, 1, namespace) if redis else None
    return TelegramGateway(bot, uow, chat_secret(api_token(settings)), grid_name_of(directory), settings.max_text,
                           limiter)  # fmt: skip


def grid_name_of(directory: Callable[[], Directory]) -> Callable[[str], str | None]:
    def grid_name(chat_id: str) -> str | None:
        node = directory().grid_for_chat(chat_id)
        return node.name if node else None

    return grid_name


def wechat_of(
    settings: Settings,
    uow: Callable[[], SqlUnitOfWork],
    directory: Callable[[], Directory],
    tokens: RedisTokenStore | None = None,
) -> WechatGateway | None:
    """The Official Account channel when its AppID and token are set."""
    if not (settings.wechat_appid and settings.wechat_token):
        return None
    return WechatGateway(
        app_id=settings.wechat_appid, token=settings.wechat_token, aes_key=settings.wechat_aes_key,
        app_secret=settings.wechat_appsecret, api_base=settings.wechat_api_base, uow=uow,
        grid_name=grid_name_of(directory), replay_window_s=settings.replay_window_s, max_text=settings.max_text,
        tokens=tokens,
    )  # fmt: skip


def wecom_of(
    settings: Settings,
    uow: Callable[[], SqlUnitOfWork],
    directory: Callable[[], Directory],
    tokens: RedisTokenStore | None = None,
) -> WecomGateway | None:
    """WeCom when its corp id, token and EncodingAESKey are set."""
    if not (settings.wecom_corp_id and settings.wecom_token and settings.wecom_aes_key):
        return None
    return WecomGateway(
        corp_id=settings.wecom_corp_id, token=settings.wecom_token, aes_key=settings.wecom_aes_key,
        app_secret=settings.wecom_secret, agent_id=settings.wecom_agent_id, api_base=settings.wecom_api_base,
        uow=uow, directory=directory, codes=chat_secret(api_token(settings)),
        replay_window_s=settings.replay_window_s, max_text=settings.max_text, tokens=tokens,
    )  # fmt: skip


async def wecom_appchat(settings: Settings, appchat_id: str, chat_id: str) -> None:
    """Bind an internal group the WeCom app created (appchat) to a micro-grid chat."""
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.channels.bind_chat(WECOM_APPCHAT, appchat_id, chat_id)
    finally:
        await engine.dispose()
    print(f"appchat {appchat_id} now receives the posts of {chat_id}")


async def wechat_qr(settings: Settings, chat_id: str) -> None:
    """Print the URL of a micro-grid's Official Account QR code (its scene is the chat id)."""
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        directory = await directory_from_db(engine, settings)
        if directory.grid_for_chat(chat_id) is None:
            raise SystemExit(f"no micro-grid has the chat id {chat_id!r}")
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        tokens = RedisTokenStore(redis, f"{redis_namespace(settings)}:token") if redis else None  # the bots' token
        gateway = wechat_of(settings, lambda: SqlUnitOfWork(engine), lambda: directory, tokens)
        if gateway is None:
            raise SystemExit("set GRIDBOT_WECHAT_APPID, GRIDBOT_WECHAT_TOKEN and GRIDBOT_WECHAT_APPSECRET first")
        try:
            print(await gateway.qr_code(chat_id))
        finally:
            await gateway.aclose()
            if redis is not None:
                await redis.aclose()
    finally:
        await engine.dispose()


def redis_namespace(settings: Settings) -> str:
    """The prefix of this deployment's Redis keys: GRIDBOT_REDIS_PREFIX, else one derived from the
    database URL (password left out). Every process of a deployment shares its database, so they
    share the keys; another deployment (or a benchmark, a test run) on the same Redis does not."""
    if settings.redis_prefix:
        return settings.redis_prefix
    where = make_url(normalise_url(settings.database_url)).render_as_string(hide_password=True)
    return f"gridbot:{hashlib.sha1(where.encode()).hexdigest()[:10]}"


def leader_of(redis: Redis | None, engine: AsyncEngine, namespace: str = "gridbot") -> Leader:
    """Who runs the timers: a Redis lease, else a PostgreSQL advisory lock, else (SQLite: one process) us."""
    if redis is not None:
        return RedisLeader(redis, key=f"{namespace}:scheduler-leader")
    if engine.dialect.name == "postgresql":
        return PgAdvisoryLeader(engine)
    return AlwaysLeader()


def names_of(renderer: Renderer) -> Callable[[str, str], str]:
    """Display names for reports: the active catalog's type names, the templates' tier names."""

    def name(group: str, key: str) -> str:
        if group == "type":
            return renderer.fields({"type": key})["type_name"]  # type: ignore[return-value]
        return renderer.templates.name(group, key)

    return name


def schedule_routines(settings: Settings, scheduler: SchedulerTrigger, routines: Routines) -> None:
    """报平安 reminder and daily digest at their Beijing times; the monthly bulletin on its day."""
    remind_h, remind_m = clock_time(settings.checkin_remind_at)
    digest_h, digest_m = clock_time(settings.digest_at)
    bulletin_h, bulletin_m = clock_time(settings.bulletin_at)
    scheduler.add_routine("checkin-reminder", routines.remind_checkins, hour=remind_h, minute=remind_m)
    scheduler.add_routine("daily-digest", routines.daily_digest, hour=digest_h, minute=digest_m)
    scheduler.add_routine(
        "monthly-bulletin", routines.monthly_bulletin, day=settings.bulletin_day, hour=bulletin_h, minute=bulletin_m
    )


def clock_time(value: str) -> tuple[int, int]:
    hour, _, minute = value.partition(":")
    return int(hour), int(minute or 0)


async def retrain_when_ready(process: RasaProcess, models: ModelManager) -> None:
    if await process.wait_ready():
        models.start()
        await models.wait()


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


def settle_garbage_collector() -> None:
    """Move what start-up built (directory, catalogs, SQLAlchemy's tables and compiled statements,
    FastAPI's routes) out of the collector's sight, and collect young objects less often: a
    request makes many short-lived objects, and each full collection walked all of start-up's."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


async def serve(settings: Settings) -> None:
    services, runtime = await build(settings)
    log.info("gridbot on http://%s:%d/chat  (API token in %s)", settings.host, settings.port,
             "GRIDBOT_API_TOKEN" if settings.api_token else settings.var_dir / "api_token")  # fmt: skip
    config = uvicorn.Config(create_app(services), host=settings.host, port=settings.port, log_level="warning")
    settle_garbage_collector()
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


async def bulletin_command(settings: Settings, month: str | None) -> None:
    """Generate the monthly bulletins of `month` (default: the previous month) and print them.
    Officers are sent theirs through the outbox, delivered by the running bot."""
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        directory = await directory_from_db(engine, settings)
        renderer = Renderer(Templates.load(settings.templates), lambda: directory)
        routines = Routines(lambda: SqlUnitOfWork(engine), OutboxNotifier(renderer, lambda c, p: "web"),
                            lambda: directory, utcnow, names_of(renderer))  # fmt: skip
        ids = await routines.monthly_bulletin(month, force=True)
        async with SqlUnitOfWork(engine) as uow:
            for bid in ids:
                found = await uow.records.bulletin(bid)
                print(f"--- bulletin {bid} ---\n{found.text if found else ''}\n")
    finally:
        await engine.dispose()


async def nlu_command(settings: Settings, args: argparse.Namespace) -> int:
    registry = registry_of(settings)
    if args.action == "train":
        build = await ensure_model(settings.intents, settings.nlu_pipeline, settings.model_cache, settings.rasa_bin,
                                   lambda phase, detail: print(f"[{phase}] {detail}"[:200], flush=True))  # fmt: skip
        registry.snapshot(build.version, settings.intents)
        if registry.get(build.version) is None:
            registry.save(VersionRecord(build.version, build.pipeline, utcnow().isoformat(timespec="seconds"),
                                        build.examples))  # fmt: skip
        print(f"version {build.version}: {build.model}")
    elif args.action == "eval":
        await nlu_eval(settings, registry, args)
    elif args.action == "versions":
        active = registry.active()
        for r in registry.all():
            gate = (r.verdict or {}).get("reason", "")
            mark = "*" if r.version == active else " "
            print(f"{mark} {r.version}  {r.created_at}  {r.status:8s} {r.pipeline:7s} {r.examples:5d} examples  {gate}")
    elif args.action == "activate":
        if registry.get(args.version) is None or not registry.model(args.version).exists():
            print(f"error: no trained version {args.version!r} (see `nlu versions`)", file=sys.stderr)
            return 2
        registry.restore(args.version, settings.intents)
        registry.set_active(args.version)
        print(f"version {args.version} is active and config/intents restored; a running bot picks it up on restart,"
              f" or at once with POST /api/v1/nlu/models/{args.version}/activate")  # fmt: skip
    return 0


async def nlu_eval(settings: Settings, registry: Registry, args: argparse.Namespace) -> None:
    rows = read_rows(args.data, args.all_rows)
    build = prepare(settings.intents, settings.nlu_pipeline, settings.model_cache)
    version = registry.active() or build.version
    catalog = load_catalog(registry.intents(version)) if registry.active() else build.catalog
    keywords = await evaluate(RulesNlu(catalog), rows, catalog.is_report)
    if args.bot:
        stack_nlu: Any = ApiNlu(args.bot, args.token or api_token(settings))
        stop: Any = stack_nlu.aclose
        title = f"bot at {args.bot}"
    else:
        if version == build.version:
            await train(build, settings.rasa_bin)
        stack_nlu, stop = await candidate_stack(settings, registry.model(version), catalog)
        title = f"NLU version {version} ({settings.nlu_pipeline})"
    try:
        predictions = await predict(stack_nlu, rows)
    finally:
        await stop()
    scores = score(rows, predictions, catalog.is_report)
    print(report(scores, keywords, title))
    if args.errors:
        print(f"\n{write_errors(args.errors, rows, predictions)} misread rows written to {args.errors}")
    if args.json:
        body = {"data": str(args.data), "version": version, "stack": scores.to_json(), "keywords": keywords.to_json()}
        args.json.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"\nscores written to {args.json}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_bot.py", description="gridbot: incident bot for grid governance")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the bot (default)")
    nlu = sub.add_parser("nlu", help="NLU model").add_subparsers(dest="action", required=True)
    nlu.add_parser("train", help="validate config/intents and train its model if it changed")
    ev = nlu.add_parser("eval", help="score the NLU stack on a labelled CSV (text,label[,entities])")
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--json", type=Path, help="also write the scores as JSON")
    ev.add_argument("--errors", type=Path, help="also write the misread rows as CSV (text,label,predicted,source)")
    ev.add_argument("--all-rows", action="store_true", help="include confidence=low rows")
    ev.add_argument("--bot", help="parse through a running bot's /api/v1/nlu/parse (URL) instead")
    ev.add_argument("--token", help="API token for --bot (default: var/api_token)")
    nlu.add_parser("versions", help="list model versions, scores and gate verdicts")
    nlu.add_parser("activate", help="make a version active (restores its intent files)").add_argument("version")
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")
    grids = sub.add_parser("grids", help="grid directory").add_subparsers(dest="action", required=True)
    grids.add_parser("import", help="replace the directory with a grid YAML file").add_argument("file", type=Path)
    bulletin = sub.add_parser("bulletin", help="generate the monthly bulletins (月度通报) now and print them")
    bulletin.add_argument("--month", help="YYYY-MM (default: the previous month)")
    appchat = sub.add_parser("wecom-appchat", help="bind a WeCom appchat (app-created group) to a micro-grid")
    appchat.add_argument("appchat_id")
    appchat.add_argument("chat_id")
    sub.add_parser("wechat-qr", help="the Official Account QR code of a micro-grid (its URL)").add_argument("chat_id")
    code = sub.add_parser("telegram-code", help="a code for /bind (a group → a micro-grid) or /iam (a person)")
    target = code.add_mutually_exclusive_group(required=True)
    target.add_argument("--chat", help="micro-grid chat id, e.g. yg-1: send `/bind CODE` in the Telegram group")
    target.add_argument("--person", help="person id, e.g. w-yg-1: they send `/iam CODE` to the bot")
    link = sub.add_parser("chat-link", help="print a web chat invitation link")
    link.add_argument("chat_id")
    link.add_argument("sender")
    return p


CONFIG_ERRORS = (GridFileError, PolicyError, TemplateError, IntentError, TrainingError, DirectoryError, EvalDataError,
                 FaqError)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except CONFIG_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    configure_logs(settings.log_level, settings.log_format)
    command = args.command or "serve"
    if command == "serve":
        uvloop.run(serve(settings))  # libuv's event loop: measured faster under load (bench/ingest.py)
    elif command == "nlu":
        return asyncio.run(nlu_command(settings, args))
    elif command == "db":
        upgrade(settings.database_url)
        print("database is at the latest migration")
    elif command == "grids":
        asyncio.run(import_grids(settings, args.file))
    elif command == "bulletin":
        asyncio.run(bulletin_command(settings, args.month))
    elif command == "wecom-appchat":
        asyncio.run(wecom_appchat(settings, args.appchat_id, args.chat_id))
    elif command == "wechat-qr":
        asyncio.run(wechat_qr(settings, args.chat_id))
    elif command == "telegram-code":
        secret = chat_secret(api_token(settings))
        print(f"/bind {bind_code(secret, args.chat)}" if args.chat else f"/iam {identity_code(secret, args.person)}")
    elif command == "chat-link":
        token = sign(chat_secret(api_token(settings)), args.chat_id, args.sender)
        print(f"http://{settings.host}:{settings.port}/chat?token={token}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
