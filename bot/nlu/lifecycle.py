"""The NLU's life in a running bot: start (serve the active version, or train a first one),
our own Rasa child or external servers, the gated retrain's live parts, health, and the
throw-away candidate stack that `nlu eval` and the gate score with."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bot.nlu.catalog import Catalog, load_catalog
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
        rules = RulesNlu(load_catalog(config.intents))
        return NluRuntime(FallbackNlu(rules, rules, 0.0), None, None)
    parts = await _start_parts(config)
    nlu = FallbackNlu(parts.rasa, RulesNlu(parts.catalog), config.threshold)
    return NluRuntime(nlu, _model_manager(config, parts, nlu), parts)


async def _start_parts(config: NluConfig) -> NluParts:
    """Serve the active version at once; with none yet, train the intent files first (no gate to pass)."""
    registry = config.registry
    build = prepare(config.intents, config.pipeline, config.model_cache)
    active = registry.active()
    if active and active != build.version:
        model, catalog, pending = registry.model(active), load_catalog(registry.intents(active)), True
        log.info("serving NLU version %s; config/intents changed (%s): retraining in the background", active,
                 build.version)  # fmt: skip
    else:
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
