"""The NLU's life in a running bot: start (serve the active version, or train a first one),
our own Rasa child or external servers, the gated retrain's live parts, health, and the
throw-away candidate stack that `nlu eval` and the gate score with.

Start-up serves only intent files the gate accepted (see bot/nlu/versions.py). With Rasa: the
active version, always; intent files on disk that differ from it are judged by the gated retrain
in the background (an edit made while the bot was stopped is not lost, but it is not served
untested either); invalid files on disk are logged and ignored. When the active version's model
has left the cache, it is trained again from that version's own snapshot, not from the files on
disk. Only a first start, with no accepted version at all, trains and serves the files on disk
as they are (there is nothing to compare them with). With the keyword rules alone (no model, so
no gate): a site that has run the gate serves the files on disk only when they are an accepted
version's, else the active version's; a site that never had a model serves its validated files.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bot.nlu.catalog import Catalog, IntentError, load_catalog
from bot.nlu.chain import FallbackNlu
from bot.nlu.port import Nlu
from bot.nlu.rasa_client import RasaNlu, RasaPool, pool_of, rasa_of
from bot.nlu.rasa_process import RasaProcess, free_port
from bot.nlu.rules import RulesNlu
from bot.nlu.training import TrainingError, prepare, train
from bot.nlu.versions import ActivationHooks, ModelManager, Registry, VersionRecord

log = logging.getLogger(__name__)
Stop = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class NluConfig:
    """The settings the NLU needs (the composition root fills it from `config.settings`)."""

    mode: str  # "rasa" | "rules"
    intents: Path
    pipeline: str
    model_cache: Path
    rasa_bin: Path
    var_dir: Path
    test_data: tuple[Path, ...]
    threshold: float
    timeout_s: float
    url: str | None = None  # external Rasa servers; None: our own child processes
    token: str | None = None  # the external servers' --auth-token (our children get a random one each)
    port: int = 0  # the first child's port (0: free ports)
    workers: int = 1  # how many Rasa children (each one core's worth of parsing; see README "Deployment")

    @property
    def registry(self) -> Registry:
        return Registry(self.var_dir / "nlu", self.model_cache)


@dataclass
class NluParts:
    rasa: RasaNlu | RasaPool
    processes: tuple[RasaProcess, ...]
    catalog: Catalog
    pending: bool  # the intent files differ from the active version: retrain (gated) in the background


@dataclass
class NluRuntime:
    """What `serve` runs: the stack, the version manager (None with the rules alone), the parts."""

    nlu: FallbackNlu
    models: ModelManager | None
    parts: NluParts | None

    def health(self) -> Callable[[], Awaitable[str]]:
        return NluHealth(self.parts.rasa) if self.parts else _rules_ok

    async def retrain_if_pending(self) -> None:
        """The intent files changed while the bot was stopped: retrain (gated) once Rasa is up."""
        parts, models = self.parts, self.models
        if parts and parts.pending and parts.processes and models and await parts.processes[0].wait_ready():
            models.start()
            await models.wait()

    async def stop(self) -> None:
        for process in self.parts.processes if self.parts else ():
            await process.stop()


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


async def _rules_ok() -> str:
    return "ok"


async def start(config: NluConfig) -> NluRuntime:
    """Rasa (our own process, or external servers) with the keyword fallback; or, in mode
    `rules`, the keyword rules alone (no model, no retraining: benchmarks, tiny sites)."""
    if config.mode == "rules":
        rules = RulesNlu(load_catalog(accepted_intents(config)))
        return NluRuntime(FallbackNlu(rules, rules, 0.0), None, None)
    parts = await _start_parts(config)
    nlu = FallbackNlu(parts.rasa, RulesNlu(parts.catalog), config.threshold)
    return NluRuntime(nlu, _model_manager(config, parts, nlu), parts)


def accepted_intents(config: NluConfig) -> Path:
    """The intent files the keyword rules alone may serve: those on disk when the gate accepted
    them (or when this site never ran the gate), else the active version's snapshot."""
    if not (config.var_dir / "nlu" / "active").exists():
        return config.intents  # no model was ever gated here: validation is all there is
    registry = config.registry
    active = registry.recorded_active()
    if active is None or not registry.intents(active).is_dir() or registry.accepted_version_of(config.intents):
        return config.intents
    log.warning("config/intents is not a version the NLU gate accepted: serving version %s's intent files;"
                " retrain with Rasa to have the change judged", active)  # fmt: skip
    return registry.intents(active)


async def _rebuild_active(config: NluConfig, registry: Registry) -> str | None:
    """The active version's model left the cache: train it again from its own intent snapshot
    (never from the files on disk, which the gate has not judged). None if there is no snapshot."""
    recorded = registry.recorded_active()
    if recorded is None or not registry.intents(recorded).is_dir():
        return None
    log.warning("the model of NLU version %s is missing: training it again from its intent snapshot", recorded)
    build = prepare(registry.intents(recorded), config.pipeline, config.model_cache)
    seconds = await train(build, config.rasa_bin)
    if build.version != recorded:  # another pipeline since: the same accepted files, a version of its own
        registry.snapshot(build.version, registry.intents(recorded))
        registry.save(VersionRecord(build.version, build.pipeline, datetime.now(UTC).isoformat(timespec="seconds"),
                                    build.examples, status="active", train_seconds=round(seconds, 1)))  # fmt: skip
    registry.set_active(build.version)
    return build.version


def _disk_differs(config: NluConfig, active: str) -> bool:
    """The intent files on disk are not the active version's: retrain them (gated) in the background."""
    try:
        version = prepare(config.intents, config.pipeline, config.model_cache).version
    except IntentError as exc:
        log.error("config/intents is invalid, serving NLU version %s until it is fixed: %s", active, exc)
        return False
    if version != active:
        log.info("serving NLU version %s; config/intents changed (%s): retraining in the background", active, version)
    return version != active


async def _start_parts(config: NluConfig) -> NluParts:
    """Serve the active version at once; with none yet, train the intent files first (no gate to pass)."""
    registry = config.registry
    active = registry.active() or await _rebuild_active(config, registry)
    if active is not None:
        model, catalog = registry.model(active), load_catalog(registry.intents(active))
        pending = _disk_differs(config, active)
    else:
        build = prepare(config.intents, config.pipeline, config.model_cache)
        seconds = await train(build, config.rasa_bin)
        registry.snapshot(build.version, config.intents)
        record = registry.get(build.version) or VersionRecord(
            build.version, build.pipeline, datetime.now(UTC).isoformat(timespec="seconds"), build.examples,
            train_seconds=round(seconds, 1),
        )  # fmt: skip
        registry.set_active(build.version)
        registry.save(replace(record, status="active"))
        model, catalog, pending = build.model, build.catalog, False
    if config.url:
        if not config.token:
            log.warning("GRIDBOT_NLU_URL without GRIDBOT_NLU_TOKEN: those Rasa servers' API (DELETE /model …) "
                        "is open to anyone who reaches them; start them with --auth-token")  # fmt: skip
        return NluParts(rasa_of(config.url, config.timeout_s, config.token), (), catalog, pending)
    processes = tuple(
        RasaProcess(
            config.rasa_bin,
            model,
            config.port + n if config.port else 0,
            config.var_dir / (f"rasa-{n}.log" if n else "rasa.log"),
        )
        for n in range(max(1, config.workers))
    )
    for process in processes:
        await process.start()
    rasa = pool_of([RasaNlu(p.url, config.timeout_s, token=p.auth_token) for p in processes])
    return NluParts(rasa, processes, catalog, pending)


def _model_manager(config: NluConfig, parts: NluParts, nlu: FallbackNlu) -> ModelManager:
    async def load_model(model: Path) -> None:
        await parts.rasa.load_model(model)
        for process in parts.processes:
            process.model = model  # a restart after a crash loads the active model

    async def candidate(model: Path, catalog: Catalog) -> tuple[Nlu, Stop]:
        return await candidate_stack(config, model, catalog)

    live = ActivationHooks(load_model, lambda catalog: nlu.use(RulesNlu(catalog)), candidate, nlu)
    return ModelManager(config.registry, config.intents, config.pipeline, config.rasa_bin, config.test_data, live)


async def candidate_stack(config: NluConfig, model: Path, catalog: Catalog) -> tuple[FallbackNlu, Stop]:
    """A throw-away Rasa server for `model` and the stack around it, for evaluation."""
    log_file = config.var_dir / "rasa-candidate.log"
    process = RasaProcess(config.rasa_bin, model, free_port(), log_file)
    await process.start()
    if not await process.wait_ready():
        await process.stop()
        raise TrainingError(f"the candidate Rasa server did not start; see {log_file}")
    rasa = RasaNlu(process.url, max(config.timeout_s, 10.0), token=process.auth_token)

    async def stop() -> None:
        await rasa.aclose()
        await process.stop()

    return FallbackNlu(rasa, RulesNlu(catalog), config.threshold), stop
