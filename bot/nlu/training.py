"""Train the Rasa NLU model only when its training data changed: models are keyed by a hash.

The cache lives outside the work tree (~/.cache/gridbot/models by default) so fresh clones
of the same data reuse one trained model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parent / "project"
ROOT = PROJECT.parents[2]


def data_hash(project: Path = PROJECT) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(project)).encode())
        digest.update(path.read_bytes())
    digest.update((ROOT / "requirements-rasa.txt").read_bytes())
    return digest.hexdigest()[:16]


def model_path(cache: Path, project: Path = PROJECT) -> Path:
    return cache / f"nlu-{data_hash(project)}.tar.gz"


class TrainingError(RuntimeError):
    pass


def ensure_model(rasa_bin: Path, cache: Path, project: Path = PROJECT) -> Path:
    """Return the model for the current data, training it first if it is not cached."""
    target = model_path(cache, project)
    if target.exists():
        return target
    if not rasa_bin.exists():
        raise TrainingError(f"{rasa_bin} not found: run `make setup` to create the Rasa environment")
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log.info("training NLU model %s (data changed or first run)…", target.name)
    command = [
        str(rasa_bin), "train", "nlu",
        "--config", str(project / "config.yml"),
        "--domain", str(project / "domain.yml"),
        "--nlu", str(project / "data"),
        "--out", str(cache),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]  # fmt: skip
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(cache / "rasa-cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not target.exists():
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise TrainingError(f"rasa train failed (exit {result.returncode}):\n{tail}")
    log.info("trained %s in %.0f s", target.name, time.monotonic() - started)
    return target
