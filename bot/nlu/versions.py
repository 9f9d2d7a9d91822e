"""Model versions and the safe hot retrain: train → evaluate on held-out data → gate → activate.

A version is a trained model plus a snapshot of the intent files it came from (the keyword
rules and the ticket mapping must match the model). Records live in `<var>/nlu/`:
    versions/<version>.json     what was trained, its held-out scores and the gate's verdict
    versions/<version>/intents/ the intent files of that version
    active                      the active version
Activation loads the model into the running Rasa server (`PUT /model`, no restart) and swaps
the rules in the same step; a rejected candidate leaves the active model untouched.

Only what passed the gate is ever served. An edit is written to config/intents before its model
is judged; when the gate rejects it (or its training fails), the intent files go back to the
active version's, so a restart cannot pick up what the gate refused (the rejected files stay in
that version's snapshot and in the audit log). The accepted versions are the active one and the
ones that were active before (`retired`); start-up (bot/nlu/lifecycle.py) serves only those.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.nlu.catalog import Catalog, IntentError, catalog_hash, load_catalog
from bot.nlu.evaluate import predict, read_rows
from bot.nlu.metrics import Row, Scores, Verdict, gate, score
from bot.nlu.port import Nlu
from bot.nlu.training import Build, TrainingError, prepare, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionRecord:
    version: str
    pipeline: str
    created_at: str
    examples: int
    status: str = "trained"  # trained | active | rejected | retired
    train_seconds: float = 0.0
    test_data: str | None = None  # hash of the held-out file the scores are for
    scores: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None


class Registry:
    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.cache = cache
        (root / "versions").mkdir(parents=True, exist_ok=True)

    def model(self, version: str) -> Path:
        return self.cache / f"nlu-{version}.tar.gz"

    def intents(self, version: str) -> Path:
        return self.root / "versions" / version / "intents"

    def get(self, version: str) -> VersionRecord | None:
        path = self.root / "versions" / f"{version}.json"
        if not path.exists():
            return None
        return VersionRecord(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, record: VersionRecord) -> None:
        path = self.root / "versions" / f"{record.version}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)

    def all(self) -> list[VersionRecord]:
        records = [self.get(p.stem) for p in (self.root / "versions").glob("*.json")]
        return sorted((r for r in records if r), key=lambda r: r.created_at, reverse=True)

    def active(self) -> str | None:
        version = self.recorded_active()
        return version if version and self.model(version).exists() and self.intents(version).is_dir() else None

    def recorded_active(self) -> str | None:
        """The version recorded as active, whether or not its model is still in the cache."""
        path = self.root / "active"
        return (path.read_text().strip() or None) if path.exists() else None

    def accepted_version_of(self, intents: Path) -> str | None:
        """The accepted version (the active one, or one active before) whose intent files are
        exactly those in `intents`; None when the gate never accepted them."""
        wanted = catalog_hash(intents)
        accepted = [self.recorded_active()] + [r.version for r in self.all() if r.status in ("active", "retired")]
        for version in dict.fromkeys(v for v in accepted if v):
            if self.intents(version).is_dir() and catalog_hash(self.intents(version)) == wanted:
                return version
        return None

    def holds(self, version: str, intents: Path) -> bool:
        """`intents` are exactly the intent files of `version`."""
        return self.intents(version).is_dir() and catalog_hash(self.intents(version)) == catalog_hash(intents)

    def set_active(self, version: str) -> None:
        previous = self.active()
        if previous and previous != version and (old := self.get(previous)):
            self.save(replace(old, status="retired"))
        tmp = self.root / "active.tmp"
        tmp.write_text(version)
        tmp.replace(self.root / "active")

    def snapshot(self, version: str, intents: Path) -> None:
        target = self.intents(version)
        if target.is_dir():
            return
        tmp = target.with_name("intents.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(intents, tmp, ignore=shutil.ignore_patterns("*.tmp", ".*"))
        tmp.rename(target)

    def restore(self, version: str, intents: Path) -> None:
        """Make the intent files those of `version` (a rollback is then also what restarts use).
        Each file is replaced atomically; files the version does not have go last. Cut off half
        way, the files match no accepted version and start-up serves the active one."""
        snapshot = sorted(self.intents(version).glob("*.yaml"))
        for path in snapshot:
            tmp = intents / f".{path.name}.tmp"
            shutil.copy2(path, tmp)
            tmp.replace(intents / path.name)
        keep = {path.name for path in snapshot}
        for path in intents.glob("*.yaml"):
            if path.name not in keep:
                path.unlink()


@dataclass
class Job:
    """The one training job the admin watches: phase, last detail line, timings, outcome."""

    phase: str = (
        "idle"  # idle | generating | validating | training | evaluating | activating | active | rejected | failed
    )
    detail: str = ""
    version: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    log: list[str] = field(default_factory=list)
    verdict: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.phase not in ("idle", "active", "rejected", "failed")

    def update(self, phase: str, detail: str) -> None:
        self.phase, self.detail = phase, detail
        self.log = [*self.log[-49:], f"[{phase}] {detail}"]

    def to_json(self) -> dict[str, Any]:
        end = self.finished_at or time.time()
        elapsed = round(end - self.started_at, 1) if self.started_at else None
        return {"phase": self.phase, "detail": self.detail, "version": self.version, "running": self.running,
                "elapsed_s": elapsed, "log": self.log[-20:], "verdict": self.verdict}  # fmt: skip


class Busy(RuntimeError):
    pass


@dataclass
class ActivationHooks:
    """The parts activation changes, supplied by the composition root."""

    load_model: Callable[[Path], Awaitable[None]]  # PUT /model on the running Rasa
    use_catalog: Callable[[Catalog], None]  # swap the keyword rules / ticket mapping
    candidate_nlu: Callable[[Path, Catalog], Awaitable[tuple[Nlu, Callable[[], Awaitable[None]]]]]
    live_nlu: Nlu  # the stack the bot answers with (to score the active model)


class ModelManager:
    def __init__(self, registry: Registry, intents: Path, pipeline: str, rasa_bin: Path, test_data: Sequence[Path],
                 live: ActivationHooks) -> None:  # fmt: skip
        self.registry = registry
        self.intents = intents
        self.pipeline = pipeline
        self.rasa_bin = rasa_bin
        self.test_data = test_data
        self.live = live
        self.job = Job()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self, force: bool = False) -> Job:
        """Start a background retrain of the current intent files; Busy if one is running."""
        if self._lock.locked():
            raise Busy("a training job is already running")
        self.job = Job(phase="generating", detail="validating intent files", started_at=time.time())
        self._task = asyncio.create_task(self.retrain(force), name="nlu-retrain")
        return self.job

    async def wait(self) -> Job:
        if self._task:
            await asyncio.shield(self._task)
        return self.job

    async def retrain(self, force: bool = False) -> None:
        async with self._lock:
            job = self.job
            try:
                await self._retrain(job, force)
            except (IntentError, TrainingError, OSError, ValueError) as exc:
                job.update("failed", str(exc)[-2000:] + self._discard(job.version))
                log.error("nlu retrain failed: %s", exc)
            finally:
                job.finished_at = time.time()

    async def _retrain(self, job: Job, force: bool) -> None:
        build = prepare(self.intents, self.pipeline, self.registry.cache)
        job.version = build.version
        self.registry.snapshot(build.version, self.intents)
        seconds = await train(build, self.rasa_bin, job.update)
        record = self.registry.get(build.version) or VersionRecord(
            build.version, build.pipeline, _now(), build.examples, train_seconds=round(seconds, 1)
        )
        self.registry.save(record)
        raw = b"".join(path.read_bytes() for path in self.test_data)
        rows = [row for path in self.test_data for row in read_rows(path)]
        candidate = await self.score_candidate(build, rows, job)
        baseline = await self.score_active(rows, job)
        verdict = gate(candidate, baseline)
        job.verdict = {**asdict(verdict), "forced": force}
        test_hash = hashlib.sha256(raw).hexdigest()[:16]
        record = replace(record, test_data=test_hash, scores=candidate.to_json(), verdict=job.verdict)
        if not (verdict.passed or force):
            self.registry.save(replace(record, status="rejected"))
            job.update("rejected", verdict.reason + self._discard(build.version))
            return
        self.registry.save(record)
        await self.activate(build.version, job)

    def _discard(self, version: str | None) -> str:
        """A change the gate did not accept leaves config/intents: the files become the active
        version's again, unless they changed since this job took them (a newer edit, which its own
        run judges). Returns what the job's detail should add."""
        active = self.registry.active()
        if version is None or active is None or version == active or not self.registry.holds(version, self.intents):
            return ""
        try:
            self.registry.restore(active, self.intents)
        except OSError as exc:
            log.error("nlu: could not restore the intent files of version %s: %s", active, exc)
            return f"; config/intents NOT restored ({exc}): start-up still serves version {active}"
        log.warning("nlu: version %s not accepted; config/intents restored to version %s", version, active)
        return f"; config/intents restored to the active version {active} (the change is kept in version {version})"

    async def activate(self, version: str, job: Job | None = None) -> VersionRecord:
        """Load `version` into the running Rasa and the rules; restore its intent files."""
        job = job or Job()  # an API rollback has no job to report to
        record = self.registry.get(version)
        model = self.registry.model(version)
        if record is None or not model.exists() or not self.registry.intents(version).is_dir():
            raise TrainingError(f"version {version} is not available (no record, model or intent snapshot)")
        catalog = load_catalog(self.registry.intents(version))
        job.update("activating", f"loading {model.name} into the running Rasa server")
        await self.live.load_model(model)
        self.live.use_catalog(catalog)
        if self.registry.active() != version:
            self.registry.restore(version, self.intents)
        self.registry.set_active(version)
        record = replace(record, status="active")
        self.registry.save(record)
        job.update("active", f"version {version} is live")
        log.info("nlu version %s is active", version)
        return record

    async def score_candidate(self, build: Build, rows: list[Row], job: Job) -> Scores:
        job.update("evaluating", f"starting a candidate Rasa server for {build.version}")
        nlu, stop = await self.live.candidate_nlu(build.model, build.catalog)
        try:
            job.update("evaluating", f"candidate on {len(rows)} held-out rows")
            predictions = await predict(
                nlu, rows, build.catalog.is_report, lambda n: job.update("evaluating", f"candidate {n}/{len(rows)}")
            )
        finally:
            await stop()
        return score(rows, predictions, build.catalog.is_report)

    async def score_active(self, rows: list[Row], job: Job) -> Scores | None:
        active = self.registry.active()
        if active is None:
            return None
        job.update("evaluating", f"active model {active} on {len(rows)} held-out rows")
        catalog = load_catalog(self.registry.intents(active))
        return score(rows, await predict(self.live.live_nlu, rows, catalog.is_report), catalog.is_report)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = ["ActivationHooks", "Busy", "Job", "ModelManager", "Registry", "Verdict", "VersionRecord"]
