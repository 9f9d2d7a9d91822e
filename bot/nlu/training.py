"""Build a model version from the intent files: validate, generate the Rasa project, `rasa data
validate`, `rasa train nlu`. A version is named by the hash of its generated project *and* of the
intent files: two versions differ whenever what the bot serves differs, including what the model
never sees (a display name, a `ticket:` mapping), so a version's snapshot is exactly what was
judged. The model itself is keyed by the training data alone: unchanged data never retrains (a
version that only changed a name reuses the model) and the cache is shared by every checkout.

Layout under the model cache (~/.cache/gridbot/models by default):
    projects/<data>/           the generated Rasa project (<data>: the hash of the training data)
    nlu-<data>.tar.gz          the trained model
    nlu-<version>.tar.gz       the version's model: a hard link to (or copy of) the one above
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.nlu.catalog import Catalog, catalog_hash, load_catalog
from bot.nlu.generate import files_hash, project_files, write_project
from bot.nlu.rasa_process import RASA_ENV

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]  # (phase, detail)


def quiet(phase: str, detail: str) -> None:
    log.info("nlu %s: %s", phase, detail)


class TrainingError(RuntimeError):
    pass


@dataclass(frozen=True)
class Build:
    version: str
    project: Path
    model: Path
    catalog: Catalog
    pipeline: str
    examples: int
    data_model: Path  # the model of this training data, shared by every version with the same data

    @property
    def trained(self) -> bool:
        return self.model.exists()


def prepare(intents: Path, pipeline: str, cache: Path) -> Build:
    """Validate the intent files and generate the project (fast, no Rasa). Raises IntentError."""
    catalog = load_catalog(intents)
    try:
        files = project_files(catalog, pipeline)
    except FileNotFoundError as exc:
        raise TrainingError(str(exc)) from exc
    data = files_hash(files)
    version = files_hash({**files, "intents.sha256": catalog_hash(intents)})
    project = write_project(files, cache / "projects" / data)
    examples = sum(len(s.examples) for s in catalog.intents.values())
    return Build(version, project, cache / f"nlu-{version}.tar.gz", catalog, pipeline, examples,
                 cache / f"nlu-{data}.tar.gz")  # fmt: skip


async def train(build: Build, rasa_bin: Path, progress: Progress = quiet) -> float:
    """Train the build's model unless it exists; returns the seconds spent (0 when cached)."""
    if build.trained:
        progress("cached", f"model {build.version} already trained")
        return 0.0
    if build.data_model.exists():
        _share(build.data_model, build.model)
        progress("cached", f"version {build.version}: the training data is unchanged, model {build.data_model.name}")
        return 0.0
    if not await asyncio.to_thread(rasa_bin.exists):
        raise TrainingError(f"{rasa_bin} not found: run `make setup` to create the Rasa environment")
    started = time.monotonic()
    progress("validating", "rasa data validate")
    await _rasa(rasa_bin, build, ["data", "validate", "--data", "data", "--domain", "domain.yml",
                                  "--config", "config.yml", "--fail-on-warnings"], progress, "validating")  # fmt: skip
    progress("training", f"rasa train nlu ({build.examples} examples, pipeline {build.pipeline})")
    out = build.model.parent
    await _rasa(rasa_bin, build, ["train", "nlu", "--config", "config.yml", "--domain", "domain.yml",
                                  "--nlu", "data", "--out", str(out),
                                  "--fixed-model-name", build.data_model.name.removesuffix(".tar.gz")],
                progress, "training")  # fmt: skip
    if not build.data_model.exists():
        raise TrainingError(f"rasa train finished without writing {build.data_model}")
    _share(build.data_model, build.model)
    seconds = time.monotonic() - started
    log.info("trained %s in %.0f s", build.model.name, seconds)
    return seconds


def _share(model: Path, target: Path) -> None:
    """`target` becomes the same model file: a hard link (no space), a copy where links fail."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(model, tmp)
    except OSError:
        shutil.copy2(model, tmp)
    tmp.replace(target)


async def ensure_model(intents: Path, pipeline: str, cache: Path, rasa_bin: Path, progress: Progress = quiet) -> Build:
    build = prepare(intents, pipeline, cache)
    await train(build, rasa_bin, progress)
    return build


async def _rasa(rasa_bin: Path, build: Build, args: list[str], progress: Progress, phase: str) -> None:
    cache = build.model.parent / "rasa-cache"
    env = {**os.environ, **RASA_ENV, "RASA_CACHE_DIRECTORY": str(cache)}
    proc = await asyncio.create_subprocess_exec(
        str(rasa_bin), *args, cwd=build.project, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    tail: list[str] = []
    try:
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail = [*tail[-39:], line]
                progress(phase, line[-300:])
        code = await proc.wait()
    except asyncio.CancelledError:  # a training cut off (a time budget, shutdown) stops Rasa too
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if code != 0:
        raise TrainingError(f"rasa {' '.join(args[:2])} failed (exit {code}) for {build.project}:\n" + "\n".join(tail))
