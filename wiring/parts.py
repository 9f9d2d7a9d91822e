"""Factories of the composition root: each builds one part from settings and its dependencies.

Only `run_bot.py` and `wiring.commands` use them (import-linter keeps everything else out)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

import yaml
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot

from admin.auth import AdminAuth, FirstAdmin
from admin.services import AdminServices, DirectoryIO, EditableFile
from bot import bulletin_pdf
from bot.channels.codes import LinkCodes
from bot.channels.telegram import TelegramGateway
from bot.channels.wechat_oa import WechatGateway
from bot.channels.wecom import WEBHOOK_PER_MINUTE, WecomGateway
from bot.directory import RoutedDirectory
from bot.messages import Handle, Handled, InboundMessage
from bot.nlu.lifecycle import NluConfig
from bot.outbox import Files
from bot.render import Renderer, Templates
from config.directory import checked_directory, dump_directory, load_directory_file
from config.holidays import load_holidays, parse_holidays
from config.policies import parse_policies
from config.settings import Settings, api_token, secure_cookies
from escalation.calendar import coverage_warning, use_holidays
from escalation.policy import PolicyBook, PolicyError
from escalation.routines import Routines, local_day
from escalation.scheduler import AlwaysLeader, Leader, SchedulerTrigger
from storage.database import create_engine, redis_namespace
from storage.directory import load_directory, save_directory
from storage.migrate import upgrade
from storage.pg_leader import PgAdvisoryLeader
from storage.redis_leader import RedisLeader
from storage.redis_nonces import RedisNonceStore
from storage.redis_ratelimit import RedisRateLimiter
from storage.redis_tokens import RedisTokenStore
from storage.sql import SqlUnitOfWork
from tickets.directory import Directory
from tickets.points import PointsPolicy
from tickets.ports import UnitOfWorkFactory

log = logging.getLogger("gridbot")
T = TypeVar("T")


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """Migrate, open the engine, dispose of it at the end: every command that touches the database."""
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def units(engine: AsyncEngine) -> UnitOfWorkFactory:
    return lambda: SqlUnitOfWork(engine)


async def directory_from_db(engine: AsyncEngine, settings: Settings) -> Directory:
    """The stored directory; on first start, import GRIDBOT_DIRECTORY (the demo grid by default)."""
    stored = await load_directory(engine)
    if stored is not None:
        return stored
    directory = load_directory_file(settings.directory)
    await save_directory(engine, directory)
    log.info("imported grid directory from %s (%d nodes)", settings.directory, len(directory.nodes))
    return directory


def nlu_config(settings: Settings) -> NluConfig:
    return NluConfig(
        mode=settings.nlu, intents=settings.intents, pipeline=settings.nlu_pipeline, model_cache=settings.model_cache,
        rasa_bin=settings.rasa_bin, var_dir=settings.var_dir, test_data=gate_files(settings),
        threshold=settings.nlu_threshold, timeout_s=settings.nlu_timeout_s, url=settings.nlu_url,
        token=settings.nlu_token, port=settings.rasa_port, workers=settings.nlu_workers,
    )  # fmt: skip


def gate_files(settings: Settings) -> tuple[Path, ...]:
    return tuple(Path(p.strip()) for p in settings.nlu_test_data.split(",") if p.strip())


def redis_of(settings: Settings) -> tuple[Redis | None, str]:
    """The shared Redis (None: one process, in-process adapters) and this deployment's key prefix."""
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    return redis, redis_namespace(settings.redis_prefix, settings.database_url)


def token_store(redis: Redis | None, namespace: str) -> RedisTokenStore | None:
    """Platform access tokens shared by every process (None: each process keeps its own)."""
    return RedisTokenStore(redis, f"{namespace}:token") if redis else None


def nonce_store(redis: Redis | None, namespace: str) -> RedisNonceStore | None:
    """Callback nonces every process sees (None: each process remembers its own, one process)."""
    return RedisNonceStore(redis, f"{namespace}:nonce") if redis else None


def leader_of(redis: Redis | None, engine: AsyncEngine, namespace: str) -> Leader:
    """Who runs the timers: a Redis lease, else a PostgreSQL advisory lock, else (SQLite: one process) us."""
    if redis is not None:
        return RedisLeader(redis, key=f"{namespace}:scheduler-leader")
    if engine.dialect.name == "postgresql":
        return PgAdvisoryLeader(engine)
    return AlwaysLeader()


class Replaceable(Generic[T]):
    """A value the admin web replaces while the bot runs (the policy book); readers call `get`."""

    def __init__(self, value: T) -> None:
        self.value = value

    def get(self) -> T:
        return self.value

    def set(self, value: T) -> None:
        self.value = value


PASSWORD_IGNORED = (
    "!!! GRIDBOT_ADMIN_PASSWORD differs from the stored password of the existing admin account %r and is IGNORED: "
    "the environment only creates the first admin and never overwrites a stored password, so the old password "
    "still works and the new one is refused. To change it, run: .venv/bin/python run_bot.py admin reset-password %s "
    "(it asks for the new password, or reads it from --password-env VAR) !!!"
)


def policies_from_text(source: str) -> PolicyBook:
    try:
        return parse_policies(yaml.safe_load(source))
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise PolicyError(f"missing or wrong field: {exc}") from exc


async def admin_of(
    settings: Settings, engine: AsyncEngine, directory: RoutedDirectory, policies: Replaceable[PolicyBook],
    renderer: Renderer, now: Callable[[], datetime], points: Callable[[], PointsPolicy] = PointsPolicy,
) -> AdminServices:  # fmt: skip
    """The admin web's parts; creates the first admin from GRIDBOT_ADMIN_USER/PASSWORD if missing."""
    auth = AdminAuth(units(engine), directory, now)
    if settings.admin_user and settings.admin_password:
        first = await auth.ensure_first_admin(settings.admin_user, settings.admin_password)
        if first is FirstAdmin.CREATED:
            log.info("created admin account %s (GRIDBOT_ADMIN_USER)", settings.admin_user)
        elif first is FirstAdmin.IGNORED:
            log.warning(PASSWORD_IGNORED, settings.admin_user, settings.admin_user)

    async def replace_directory(new: Directory) -> None:
        await save_directory(engine, new)
        directory.replace(new)

    def set_templates(new: Templates) -> None:
        renderer.templates = new

    return AdminServices(
        auth=auth,
        policies=EditableFile(settings.policies, policies_from_text, policies.set),
        live_policies=policies.get,
        templates=EditableFile(settings.templates, lambda t: Templates.parse(t, "templates.yaml"), set_templates),
        directory_io=DirectoryIO(checked_directory, dump_directory, replace_directory),
        holidays=EditableFile(settings.holidays, parse_holidays, use_holidays),
        now=now,
        secure_cookies=secure_cookies(settings),
        points_policy=points,
        map_tiles=settings.map_tiles,
        position_s=settings.map_position_h * 3600,
    )


def link_codes(settings: Settings) -> LinkCodes:
    """`/bind` and `/iam` codes: printed by the CLI, read by the Telegram and WeCom adapters."""
    return LinkCodes(api_token(settings), settings.link_code_ttl_s)


def grid_name_of(directory: Callable[[], Directory]) -> Callable[[str], str | None]:
    def grid_name(chat_id: str) -> str | None:
        node = directory().grid_for_chat(chat_id)
        return node.name if node else None

    return grid_name


def telegram_of(
    settings: Settings, uow: UnitOfWorkFactory, directory: Callable[[], Directory], redis: Redis | None,
    namespace: str, handle: Handle,
) -> TelegramGateway | None:  # fmt: skip
    """The Telegram channel when a token is set (the webhook also needs GRIDBOT_TELEGRAM_SECRET).
    With Redis, its send limits (20/min per group, 30/s overall) hold across every bot process."""
    if not settings.telegram_token:
        return None
    bot = Bot(settings.telegram_token, base_url=f"{settings.telegram_api_base.rstrip('/')}/bot")
    limiter = RedisRateLimiter(redis, "telegram", 20, 60, 30, 1, namespace) if redis else None
    return TelegramGateway(bot, uow, link_codes(settings), grid_name_of(directory), settings.max_text,
                           limiter, handle=handle)  # fmt: skip


def wechat_of(
    settings: Settings, uow: UnitOfWorkFactory, directory: Callable[[], Directory], tokens: RedisTokenStore | None,
    handle: Handle | None = None, nonces: RedisNonceStore | None = None,
) -> WechatGateway | None:  # fmt: skip
    """The Official Account channel when its AppID and token are set (`handle`: None for the CLI's QR codes)."""
    if not (settings.wechat_appid and settings.wechat_token):
        return None
    return WechatGateway(
        app_id=settings.wechat_appid, token=settings.wechat_token, aes_key=settings.wechat_aes_key,
        app_secret=settings.wechat_appsecret, api_base=settings.wechat_api_base, uow=uow,
        grid_name=grid_name_of(directory), replay_window_s=settings.replay_window_s, max_text=settings.max_text,
        tokens=tokens, handle=handle or no_handler, nonces=nonces,
    )  # fmt: skip


async def no_handler(message: InboundMessage) -> Handled:
    raise RuntimeError("this gateway takes no messages (built for a CLI command)")


def wecom_of(
    settings: Settings, uow: UnitOfWorkFactory, directory: Callable[[], Directory], tokens: RedisTokenStore | None,
    handle: Handle, nonces: RedisNonceStore | None = None, redis: Redis | None = None, namespace: str = "gridbot",
    now: Callable[[], datetime] | None = None,
) -> WecomGateway | None:  # fmt: skip
    """WeCom when its corp id, token and EncodingAESKey are set. With Redis, a group robot's limit
    (20 messages/minute) holds across every bot process."""
    if not (settings.wecom_corp_id and settings.wecom_token and settings.wecom_aes_key):
        return None
    slots = RedisRateLimiter(redis, "wecom-webhook", WEBHOOK_PER_MINUTE, 60, 1_000_000, 1, namespace) if redis else None
    return WecomGateway(
        corp_id=settings.wecom_corp_id, token=settings.wecom_token, aes_key=settings.wecom_aes_key,
        app_secret=settings.wecom_secret, agent_id=settings.wecom_agent_id, api_base=settings.wecom_api_base,
        uow=uow, directory=directory, codes=link_codes(settings),
        replay_window_s=settings.replay_window_s, max_text=settings.max_text, tokens=tokens, handle=handle,
        nonces=nonces, webhook_slots=slots, **({"now": now} if now else {}),
    )  # fmt: skip


def names_of(renderer: Renderer) -> Callable[[str, str], str]:
    """Display names for reports: the active catalog's type names, the templates' tier names."""

    def name(group: str, key: str) -> str:
        if group == "type":
            return str(renderer.fields({"type": key})["type_name"])
        return renderer.templates.name(group, key)

    return name


def bulletin_files(uow: UnitOfWorkFactory, names: Callable[[str, str], str], font: Path) -> Files:
    """A post's file attachment → the monthly bulletin's PDF (name, bytes), for platforms that carry
    files; None (the text alone goes) when the bulletin is gone or the font is missing."""
    cache: dict[int, tuple[str, bytes]] = {}  # one bulletin goes to several officers and platforms

    async def load(attachment: Mapping[str, object]) -> tuple[str, bytes] | None:
        bid = attachment.get("bulletin")
        if not isinstance(bid, int):
            return None
        if bid not in cache:
            async with uow() as u:
                found = await u.records.bulletin(bid)
            if found is None:
                return None
            try:
                data = await asyncio.to_thread(bulletin_pdf.render_pdf, found, names, font)
            except bulletin_pdf.FontMissing as exc:
                log.warning("bulletin %s goes without its PDF: %s", bid, exc)
                return None
            if len(cache) >= 16:
                cache.clear()
            cache[bid] = (bulletin_pdf.filename(found), data)
        return cache[bid]

    return load


def load_calendar(settings: Settings) -> None:
    """Merge the holidays file (GRIDBOT_HOLIDAYS) over chinese-calendar for this process."""
    use_holidays(load_holidays(settings.holidays))


def calendar_warning(now: Callable[[], datetime]) -> Callable[[], str | None]:
    """The holiday coverage warning of today (None when the next 60 days are known)."""
    return lambda: coverage_warning(local_day(now()))


def calendar_check(now: Callable[[], datetime]) -> Callable[[], Awaitable[None]]:
    """Log the coverage warning (at start-up, then daily): a missing year must be loud."""

    async def check() -> None:
        warning = coverage_warning(local_day(now()))
        if warning:
            log.warning("%s", warning)

    return check


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


async def database_ok(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
