"""The CLI commands other than `serve` (see `run_bot.py --help`)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from admin.auth import AdminAuth
from bot.channels.webchat import chat_secret, sign
from bot.channels.wecom import APPCHAT as WECOM_APPCHAT
from bot.channels.wecom import WEBHOOK as WECOM_WEBHOOK
from bot.channels.wecom import webhook_key
from bot.nlu.catalog import load_catalog
from bot.nlu.evaluate import ApiNlu, evaluate, predict, read_rows, report, write_errors
from bot.nlu.lifecycle import candidate_stack
from bot.nlu.metrics import score
from bot.nlu.port import Nlu
from bot.nlu.rules import RulesNlu
from bot.nlu.training import ensure_model, prepare, train
from bot.nlu.versions import Registry, VersionRecord
from bot.outbox import OutboxNotifier
from bot.render import Renderer, Templates
from config.directory import load_directory_file
from config.points import load_points
from config.settings import Settings, api_token
from escalation.figures import rebuild
from escalation.points import PointsLedger
from escalation.routines import Routines
from storage.directory import load_directory, save_directory
from storage.migrate import upgrade
from tickets.accounts import AccountError
from tickets.directory import Directory
from wiring.parts import (
    database,
    directory_from_db,
    link_codes,
    names_of,
    nlu_config,
    redis_of,
    token_store,
    units,
    wechat_of,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def import_grids(settings: Settings, path: Path) -> None:
    directory = load_directory_file(path)
    async with database(settings) as engine:
        await save_directory(engine, directory)
    grids = sum(1 for n in directory.nodes.values() if n.chat_id)
    print(f"imported {path}: {len(directory.nodes)} nodes, {grids} micro-grids, {len(directory.people)} people")
    print("restart running bots to pick up the new directory")


async def bulletin(settings: Settings, month: str | None) -> None:
    """Generate the monthly bulletins of `month` (default: the previous month) and print them.
    Officers are sent theirs through the outbox, delivered by the running bot."""
    async with database(settings) as engine:
        directory = await directory_from_db(engine, settings)
        renderer = Renderer(Templates.load(settings.templates), lambda: directory)
        routines = Routines(units(engine), OutboxNotifier(renderer), lambda: directory, utcnow,
                            names_of(renderer))  # fmt: skip
        ids = await routines.monthly_bulletin(month, force=True)
        async with units(engine)() as uow:
            for bid in ids:
                found = await uow.records.bulletin(bid)
                print(f"--- bulletin {bid} ---\n{found.text if found else ''}\n")


async def points_rebuild(settings: Settings) -> None:
    """Derive every case's and check-in's points again from the timelines; add what the ledger lacks."""
    policy = load_points(settings.points)
    async with database(settings) as engine:
        directory = await directory_from_db(engine, settings)
        added = await PointsLedger(lambda: policy, lambda: directory).rebuild(units(engine))
    print(f"points rebuilt: {added} entries added (entries already recorded keep their points)")


async def figures_rebuild(settings: Settings) -> None:
    """Recompute the figures' rollups from every case, timeline and check-in (one transaction: on
    PostgreSQL the bots' case changes wait for it). Run it after a directory change that moves grids."""
    async with database(settings) as engine:
        directory = await directory_from_db(engine, settings)
        async with units(engine)() as uow:
            counted = await rebuild(uow, directory)
    print(f"figures rebuilt from {counted} cases")


async def wecom_appchat(settings: Settings, appchat_id: str, chat_id: str) -> None:
    """Bind an internal group the WeCom app created (appchat) to a micro-grid chat."""
    async with database(settings) as engine, units(engine)() as uow:
        await uow.channels.bind_chat(WECOM_APPCHAT, appchat_id, chat_id)
    print(f"appchat {appchat_id} now receives the posts of {chat_id}")


async def wecom_webhook(settings: Settings, raw_key: str, chat_id: str) -> int:
    """Bind the group robot (群机器人) of a micro-grid's WeCom group: the group's later posts go
    through its webhook (send-only, 20 messages/minute). The key is its credential: give it here,
    never in the group."""
    try:
        key = webhook_key(raw_key)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    async with database(settings) as engine:
        directory = await directory_from_db(engine, settings)
        if directory.grid_for_chat(chat_id) is None:
            print(f"error: no micro-grid has the chat id {chat_id!r}", file=sys.stderr)
            return 2
        async with units(engine)() as uow:
            await uow.channels.bind_chat(WECOM_WEBHOOK, key, chat_id)
    print(f"the group robot …{key[-4:]} now receives the posts of {chat_id}")
    return 0


async def wechat_qr(settings: Settings, chat_id: str) -> None:
    """Print the URL of a micro-grid's Official Account QR code (its scene is the chat id)."""
    async with database(settings) as engine:
        directory = await directory_from_db(engine, settings)
        if directory.grid_for_chat(chat_id) is None:
            raise SystemExit(f"no micro-grid has the chat id {chat_id!r}")
        redis, namespace = redis_of(settings)  # the running bots' shared access token
        gateway = wechat_of(settings, units(engine), lambda: directory, token_store(redis, namespace))
        if gateway is None:
            raise SystemExit("set GRIDBOT_WECHAT_APPID, GRIDBOT_WECHAT_TOKEN and GRIDBOT_WECHAT_APPSECRET first")
        try:
            print(await gateway.qr_code(chat_id))
        finally:
            await gateway.aclose()
            if redis is not None:
                await redis.aclose()


class CommandError(Exception):
    """A CLI command cannot run as asked; the message is printed as `error: …`."""


async def admin(settings: Settings, args: argparse.Namespace) -> int:
    """`admin reset-password USER`: a new password for an admin web account, its sessions signed out,
    its lock cleared, an audit entry (actor `cli`). The password never comes from the command line
    (argv is visible to every user of the machine in `ps` and lands in shell history)."""
    try:
        password = new_password(args.password_env)
        async with database(settings) as engine:
            stored = await load_directory(engine)
            auth = AdminAuth(units(engine), lambda: stored or Directory((), ()), utcnow)
            await auth.set_password("cli", args.username, password)
    except (CommandError, AccountError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"password of {args.username} reset; its sessions are signed out and its lock is cleared")
    return 0


def new_password(env_var: str | None) -> str:
    """From the variable `env_var`, else a prompt (asked twice) on a terminal, else one line of stdin."""
    if env_var:
        value = os.environ.get(env_var, "")
        if not value:
            raise CommandError("the environment variable named by --password-env is not set or empty")
        return value
    if sys.stdin.isatty():
        first, again = getpass.getpass("New password: "), getpass.getpass("Repeat the new password: ")
        if first != again:
            raise CommandError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def database_upgrade(settings: Settings) -> None:
    upgrade(settings.database_url)
    print("database is at the latest migration")


def telegram_code(settings: Settings, chat: str | None, person: str | None) -> None:
    """A single-use code, valid for GRIDBOT_LINK_CODE_TTL_S (Telegram `/bind`, `/iam`; WeCom too)."""
    codes = link_codes(settings)
    print(f"/bind {codes.bind_code(chat)}" if chat else f"/iam {codes.identity_code(person or '')}")


def chat_link(settings: Settings, chat_id: str, sender: str) -> None:
    try:
        token = sign(chat_secret(api_token(settings)), chat_id, sender)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"http://{settings.host}:{settings.port}/chat?token={token}")


async def nlu(settings: Settings, args: argparse.Namespace) -> int:
    registry = nlu_config(settings).registry
    if args.action == "train":
        await nlu_train(settings, registry)
    elif args.action == "eval":
        await nlu_eval(settings, registry, args)
    elif args.action == "versions":
        nlu_versions(registry)
    elif args.action == "activate":
        return nlu_activate(settings, registry, args.version)
    return 0


async def nlu_train(settings: Settings, registry: Registry) -> None:
    build = await ensure_model(settings.intents, settings.nlu_pipeline, settings.model_cache, settings.rasa_bin,
                               lambda phase, detail: print(f"[{phase}] {detail}"[:200], flush=True))  # fmt: skip
    registry.snapshot(build.version, settings.intents)
    if registry.get(build.version) is None:
        registry.save(VersionRecord(build.version, build.pipeline, utcnow().isoformat(timespec="seconds"),
                                    build.examples))  # fmt: skip
    print(f"version {build.version}: {build.model}")


def nlu_versions(registry: Registry) -> None:
    active = registry.active()
    for r in registry.all():
        gate = (r.verdict or {}).get("reason", "")
        mark = "*" if r.version == active else " "
        print(f"{mark} {r.version}  {r.created_at}  {r.status:8s} {r.pipeline:7s} {r.examples:5d} examples  {gate}")


def nlu_activate(settings: Settings, registry: Registry, version: str) -> int:
    if registry.get(version) is None or not registry.model(version).exists():
        print(f"error: no trained version {version!r} (see `nlu versions`)", file=sys.stderr)
        return 2
    registry.restore(version, settings.intents)
    registry.set_active(version)
    print(f"version {version} is active and config/intents restored; a running bot picks it up on restart,"
          f" or at once with POST /api/v1/nlu/models/{version}/activate")  # fmt: skip
    return 0


@dataclass
class _Stack:
    nlu: Nlu
    title: str


async def nlu_eval(settings: Settings, registry: Registry, args: argparse.Namespace) -> None:
    rows = read_rows(args.data, args.all_rows, args.split)
    build = prepare(settings.intents, settings.nlu_pipeline, settings.model_cache)
    active = None if args.current else registry.active()
    version = active or build.version
    catalog = load_catalog(registry.intents(version)) if active else build.catalog
    keywords = await evaluate(RulesNlu(catalog), rows, catalog.is_report)
    stop: Callable[[], Awaitable[None]]
    if args.bot:
        api = ApiNlu(args.bot, args.token or api_token(settings))
        stack, stop = _Stack(api, f"bot at {args.bot}"), api.aclose
    else:
        if version == build.version:
            await train(build, settings.rasa_bin)
        candidate, stop = await candidate_stack(nlu_config(settings), registry.model(version), catalog)
        stack = _Stack(candidate, f"NLU version {version} ({settings.nlu_pipeline})")
    try:
        predictions = await predict(stack.nlu, rows)
    finally:
        await stop()
    scores = score(rows, predictions, catalog.is_report)
    print(report(scores, keywords, stack.title))
    if args.errors:
        print(f"\n{write_errors(args.errors, rows, predictions)} misread rows written to {args.errors}")
    if args.predictions:
        print(f"\n{write_errors(args.predictions, rows, predictions, every=True)} rows written to {args.predictions}")
    if args.json:
        body = {"data": str(args.data), "version": version, "stack": scores.to_json(), "keywords": keywords.to_json()}
        args.json.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"\nscores written to {args.json}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_bot.py", description="gridbot: incident bot for grid governance")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the bot (default)")
    nlu_p = sub.add_parser("nlu", help="NLU model").add_subparsers(dest="action", required=True)
    nlu_p.add_parser("train", help="validate config/intents and train its model if it changed")
    ev = nlu_p.add_parser("eval", help="score the NLU stack on a labelled CSV (text,label[,entities])")
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--json", type=Path, help="also write the scores as JSON")
    ev.add_argument("--errors", type=Path, help="also write the misread rows as CSV (text,label,predicted,…)")
    ev.add_argument("--predictions", type=Path, help="also write every row with what the bot read, as CSV")
    ev.add_argument("--all-rows", action="store_true", help="include confidence=low rows")
    ev.add_argument("--bot", help="parse through a running bot's /api/v1/nlu/parse (URL) instead")
    ev.add_argument("--token", help="API token for --bot (default: var/api_token)")
    ev.add_argument("--current", action="store_true", help="score config/intents as they are (trained if needed), "
                    "not the active version")  # fmt: skip
    ev.add_argument("--split", default="test", help="of a file with a `split` column: test (default), train or all")
    nlu_p.add_parser("versions", help="list model versions, scores and gate verdicts")
    nlu_p.add_parser("activate", help="make a version active (restores its intent files)").add_argument("version")
    accounts = sub.add_parser("admin", help="admin web accounts").add_subparsers(dest="action", required=True)
    reset_help = "set a new password (asked at a prompt or one line of stdin, never an argument), sign out its sessions"
    reset = accounts.add_parser("reset-password", allow_abbrev=False, help=reset_help)
    reset.add_argument("username")
    reset.add_argument("--password-env", metavar="VAR", help="read the new password from this environment variable")
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")
    grids = sub.add_parser("grids", help="grid directory").add_subparsers(dest="action", required=True)
    grids.add_parser("import", help="replace the directory with a grid YAML file").add_argument("file", type=Path)
    bulletin_p = sub.add_parser("bulletin", help="generate the monthly bulletins (月度通报) now and print them")
    bulletin_p.add_argument("--month", help="YYYY-MM (default: the previous month)")
    points = sub.add_parser("points", help="points (积分)").add_subparsers(dest="action", required=True)
    points.add_parser("rebuild", help="derive the points from every timeline and check-in again (adds what is missing)")
    figures_p = sub.add_parser("figures", help="the dashboard's and bulletins' rollups").add_subparsers(
        dest="action", required=True
    )
    figures_p.add_parser("rebuild", help="recompute the rollups from every case and its timeline")
    appchat = sub.add_parser("wecom-appchat", help="bind a WeCom appchat (app-created group) to a micro-grid")
    appchat.add_argument("appchat_id")
    appchat.add_argument("chat_id")
    webhook = sub.add_parser("wecom-webhook", help="bind a WeCom group robot (its webhook key or URL) to a micro-grid")
    webhook.add_argument("key")
    webhook.add_argument("chat_id")
    sub.add_parser("wechat-qr", help="the Official Account QR code of a micro-grid (its URL)").add_argument("chat_id")
    code = sub.add_parser("telegram-code", help="a code for /bind (a group → a micro-grid) or /iam (a person)")
    target = code.add_mutually_exclusive_group(required=True)
    target.add_argument("--chat", help="micro-grid chat id, e.g. yg-1: send `/bind CODE` in the Telegram group")
    target.add_argument("--person", help="person id, e.g. w-yg-1: they send `/iam CODE` to the bot")
    link = sub.add_parser("chat-link", help="print a web chat invitation link")
    link.add_argument("chat_id")
    link.add_argument("sender")
    return p
