"""The command centre at province scale: the dashboard's figures from rollups (issue 19).

Seeds PostgreSQL with a year of cases and their timelines (COPY), builds the rollups with the
production `figures rebuild`, starts the bot on it and times, over HTTP as the admin: the dashboard
JSON for 1, 30 and 365 days, the full grid table, the map data (when the map is there), the monthly
bulletin, a 100,000-row CSV export; and the bot's RSS before and after. One JSON line per figure.

    .venv/bin/python bench/dashboard.py --cases 1000000 --grids 5000 --days 365
    .venv/bin/python bench/dashboard.py --cases 300000          # the under-10-minutes run
    .venv/bin/python bench/dashboard.py --keep                  # keep the database; later, without seeding:
    .venv/bin/python bench/dashboard.py --reuse gridbot_bench_XXXXXXXX --cases 1000000

Floors (issue 19): dashboard_365d ≤ 1,000 ms, dashboard_30d ≤ 300 ms, map ≤ 500 ms, bulletin ≤ 5 s,
RSS ≤ 300 MB throughout, export memory flat (its peak within 50 MB of the RSS before); the last lines
say each floor as met or not. The seeded cases carry no timers (`next_due_at` empty), so the
escalation engine stays idle and the timings are the pages' own. Each timing is the median of `--repeat` requests after
one warm-up. Like the other benches it uses GRIDBOT_BENCH_PG and creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REDIS, ROOT, Bot, Database, host_speed
from bench.memory import login
from config.policies import load_policies
from config.settings import CONFIG
from escalation import planner
from storage import tables
from storage.migrate import upgrade
from storage.rows import _ticket_row
from tickets import transitions
from tickets.model import CloseReason, Dispatch, EventKind, Ticket, TicketState, Tier

TYPES = ["report_sanitation", "report_public_facility", "report_water", "report_illegal_parking", "report_noise",
         "report_greenery", "report_street_order", "report_fire_safety"]  # fmt: skip
DEPARTMENTS = ["cg", "sw", "zj"]


def province(grids: int) -> dict[str, Any]:
    """One district (a province's platform seen as one jurisdiction), townships of 10 communities of
    10 grids, one worker per grid."""
    townships = max(1, grids // 100)
    out = []
    for t in range(townships):
        communities = []
        for c in range(10):
            cells = [_grid(f"{t}-{c}-{g}") for g in range(10)]
            communities.append({"id": f"c{t}-{c}", "name": f"第{t}街道第{c}社区", "grids": cells,
                                "officers": [{"id": f"o-c{t}-{c}", "name": f"社区书记{t}-{c}"}]})  # fmt: skip
        out.append({"id": f"t{t}", "name": f"第{t}街道", "communities": communities,
                    "officers": [{"id": f"o-t{t}", "name": f"街道主任{t}"}]})  # fmt: skip
    departments = [{"id": d, "name": f"{d}局", "people": [{"id": f"d-{d}", "name": "科长"}], "types": []}
                   for d in DEPARTMENTS]  # fmt: skip
    return {"district": {"id": "prov", "name": "示范省平台", "townships": out,
                         "officers": [{"id": "o-prov", "name": "指挥中心"}]},
            "departments": departments, "admins": [{"id": "admin", "name": "管理员"}]}  # fmt: skip


def _grid(key: str) -> dict[str, Any]:
    return {"id": f"g{key}", "name": f"第{key}网格", "chat_id": f"g{key}",
            "workers": [{"id": f"w{key}", "name": f"网格员{key}"}]}  # fmt: skip


def grids_of(document: dict[str, Any]) -> list[str]:
    return [g["id"] for t in document["district"]["townships"] for c in t["communities"] for g in c["grids"]]


def case(i: int, grid: str, created: datetime, now: datetime, rng: random.Random, book: Any) -> tuple[Ticket, list]:
    """One case and its timeline: most closed within days (rated, confirmed or 默认满意), some late
    (the ladder climbed, a yellow card), some dispatched to a department, recent ones still open."""
    kind = rng.choice(TYPES)
    worker = "w" + grid[1:]
    t = transitions.open_ticket(ticket_id=i, ticket_type=kind, grid=grid, chat_id=grid, reporter=f"居民{i % 997}",
                                assignee=worker, location=f"{rng.randint(1, 30)}号楼", text="楼道里垃圾没人清理",
                                policy=book.for_type(kind), now=created).ticket  # fmt: skip
    events: list[tuple[datetime, str, str, dict[str, Any]]] = [(created, "reported", t.reporter, {})]
    at = created + timedelta(minutes=rng.randint(5, 240))
    events.append((at, "accepted", worker, {}))
    if rng.random() < 0.1:
        events.append((at, "escalated", "system", {"tier": "community", "phase": "resolve"}))
    if rng.random() < 0.12:
        department = rng.choice(DEPARTMENTS)
        events.append((at, "dispatched", "o-prov", {"department": department}))
        t = replace(t, dispatch=Dispatch(department, "o-prov", Tier.DISTRICT, at), tier=Tier.DEPARTMENT)
    if rng.random() < 0.03:
        events.append((at, "yellow_card", "system", {}))
    done = at + timedelta(hours=rng.randint(1, 96))
    if done > now - timedelta(hours=rng.randint(0, 48)) or rng.random() < 0.01:
        return replace(t, state=TicketState.ACCEPTED), events  # still open
    if rng.random() < 0.02:
        events.append((done, "cancelled", t.reporter, {}))
        return replace(t, state=TicketState.CANCELLED), events
    events.append((done, "resolved", worker, {}))
    rating = rng.choice([None, 5, 5, 4, 4, 3, 2])
    reason = CloseReason.DEFAULT_SATISFIED if rating is None else CloseReason.RATED
    if rating is not None:
        events.append((done + timedelta(hours=1), "rated", t.reporter, {"rating": rating}))
    events.append((done + timedelta(hours=1), "closed", "system", {}))
    ratings = {t.reporter: rating} if rating else {}
    return replace(t, state=TicketState.CLOSED, close_reason=reason, rating=rating, ratings=ratings), events


def seed(url: str, grids: list[str], cases: int, days: int, now: datetime) -> None:
    asyncio.run(_seed(url.replace("postgresql+asyncpg://", "postgresql://"), grids, cases, days, now))


async def _seed(url: str, grids: list[str], cases: int, days: int, now: datetime) -> None:
    rng = random.Random(19)
    book = load_policies(CONFIG / "policies" / "default.yaml")
    columns = [c.name for c in tables.tickets.columns]
    conn = await asyncpg.connect(url)
    try:
        event_id, step = 0, 20_000
        start = now - timedelta(days=days)
        for first in range(1, cases + 1, step):
            rows, events = [], []
            for i in range(first, min(cases, first + step - 1) + 1):
                created = start + timedelta(seconds=(i / cases) * days * 86400 * 0.999)
                ticket, timeline = case(i, rng.choice(grids), created, now, rng, book)
                row = {
                    "id": i,
                    **_ticket_row(ticket, None, planner.overdue_at(ticket)),
                }  # no timers: the bench times pages
                rows.append(tuple(row.get(c) for c in columns))
                for at, kind, actor, detail in timeline:
                    event_id += 1
                    events.append((event_id, i, at, EventKind(kind).value, actor, detail))
            await conn.copy_to_table("tickets", source=_csv(rows), columns=columns, format="csv", null="\\N")
            await conn.copy_to_table("ticket_events", source=_csv(events), format="csv", null="\\N",
                                     columns=["id", "ticket_id", "at", "kind", "actor", "detail"])  # fmt: skip
        await conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), $1)", cases)
        await conn.execute("SELECT setval(pg_get_serial_sequence('ticket_events', 'id'), $1)", event_id)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _csv(rows: list[tuple[Any, ...]]) -> io.BytesIO:
    """Rows as PostgreSQL's COPY CSV: JSON values as text, None as \\N (COPY's binary format has no json)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["\\N" if v is None else json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list)
                         else v.isoformat() if isinstance(v, datetime) else v for v in row])  # fmt: skip
    return io.BytesIO(out.getvalue().encode("utf-8"))


class RssWatch:
    """The bot's peak RSS, sampled every 50 ms while a request runs."""

    def __init__(self, bot: Bot) -> None:
        self.bot, self.peak, self._stop = bot, 0.0, threading.Event()

    def __enter__(self) -> RssWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.bot.rss_mb())
            time.sleep(0.05)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(web: httpx.Client, path: str, repeat: int) -> tuple[float, int, int]:
    """Median ms of `repeat` GETs after a warm-up, the status and the body's size."""
    response = web.get(path)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = web.get(path)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), response.status_code, len(response.content)


FLOORS = {"dashboard_365d": 1000, "dashboard_30d": 300, "map": 500, "bulletin": 5000}  # ms (issue 19)
RSS_FLOOR_MB = 300
SEEN: dict[str, dict[str, Any]] = {}


def emit(**fields: Any) -> None:
    SEEN[str(fields.get("figure"))] = fields
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def floors() -> None:
    """The issue's floors, each as met or not, from the figures printed."""
    for figure, limit in FLOORS.items():
        ms = SEEN.get(figure, {}).get("ms")
        ok = ms is not None and ms <= limit and SEEN[figure].get("status") == 200
        emit(figure=f"floor_{figure}", limit_ms=limit, ms=ms, met=ok)
    rss = SEEN.get("rss_mb", {})
    emit(figure="floor_rss", limit_mb=RSS_FLOOR_MB, peak=rss.get("peak"), met=(rss.get("peak") or 1e9) <= RSS_FLOOR_MB)
    export = SEEN.get("export_100k", {})
    flat = export.get("rss_peak_mb") is not None and export["rss_peak_mb"] <= rss.get("before", 0) + 50
    emit(figure="floor_export_flat", rss_before=rss.get("before"), rss_peak=export.get("rss_peak_mb"), met=flat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=5000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--reuse", metavar="DB", help="time pages on a database a --keep run left (same --grids)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    db = Database(args.reuse, drop=not (args.keep or args.reuse))
    with tempfile.TemporaryDirectory() as tmp, db:
        emit(figure="host", date=date.today().isoformat(), value=host_speed(db.url), database=db.name)
        document = province(args.grids)
        (Path(tmp) / "province.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        if not args.reuse:
            build(db.url, grids_of(document), args, now, Path(tmp))
        run(db.url, args, now, Path(tmp))


def build(url: str, grids: list[str], args: argparse.Namespace, now: datetime, tmp: Path) -> None:
    """Seed the cases and build their rollups with `figures rebuild`."""
    upgrade(url)
    began = time.monotonic()
    seed(url, grids, args.cases, args.days, now)
    emit(figure="seed_s", value=round(time.monotonic() - began), cases=args.cases, grids=len(grids))
    began = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "run_bot.py"), "figures", "rebuild"], cwd=ROOT, check=True,
                   env=Bot(_env(url, tmp), tmp / "x.log").env)  # fmt: skip
    emit(figure="rebuild_s", value=round(time.monotonic() - began))
    asyncio.run(_vacuum(url))


async def _vacuum(url: str) -> None:
    """What autovacuum does to tables that have just been filled (statistics, the visibility map)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def _env(url: str, tmp: Path) -> dict[str, str]:
    return {"GRIDBOT_DATABASE_URL": url, "GRIDBOT_REDIS_URL": REDIS, "GRIDBOT_NLU": "rules",
            "GRIDBOT_DIRECTORY": f"{tmp}/province.yaml", "GRIDBOT_VAR_DIR": f"{tmp}/var",
            "GRIDBOT_ADMIN_USER": "admin", "GRIDBOT_ADMIN_PASSWORD": "bench-admin-1",
            "GRIDBOT_ADMIN_SECURE_COOKIES": "false", "GRIDBOT_LOG_LEVEL": "WARNING"}  # fmt: skip


def run(url: str, args: argparse.Namespace, now: datetime, tmp: Path) -> None:
    """Start the bot on the database and time the pages."""
    env = _env(url, tmp)
    bot = Bot(env, tmp / "bot.log")
    try:
        bot.start()
        time.sleep(2)
        before = bot.rss_mb()
        web = httpx.Client(base_url=bot.url, timeout=600, headers={"Accept": "application/json"})
        login(web)
        month = (now.date().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        paths = {"dashboard_1d": "/admin/api/dashboard?days=1", "dashboard_30d": "/admin/api/dashboard?days=30",
                 "dashboard_365d": "/admin/api/dashboard?days=365", "grid_table": "/admin/api/grids?days=30",
                 "map": "/admin/api/map", "bulletin": f"/admin/api/bulletin?month={month}"}  # fmt: skip
        peak = before
        for figure, path in paths.items():
            with RssWatch(bot) as watch:
                ms, status, size = timed(web, path, args.repeat if figure != "bulletin" else 2)
            peak = max(peak, watch.peak)
            emit(figure=figure, ms=round(ms), status=status, kb=size // 1024, path=path)
        since = (now - timedelta(days=args.days * 100_000 / args.cases)).date().isoformat()  # ~100,000 cases
        with RssWatch(bot) as watch:
            began = time.perf_counter()
            rows = 0
            with web.stream("GET", f"/admin/tickets/export.csv?since={since}") as response:
                for _ in response.iter_lines():
                    rows += 1
            ms = (time.perf_counter() - began) * 1000
        peak = max(peak, watch.peak)
        emit(figure="export_100k", ms=round(ms), rows=rows - 1, rss_peak_mb=round(watch.peak))
        emit(figure="rss_mb", before=round(before), after=round(bot.rss_mb()), peak=round(peak))
        floors()
    finally:
        bot.stop()


if __name__ == "__main__":
    main()
