"""Run Alembic migrations from code (used by `run_bot.py db upgrade` and on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from storage.database import normalise_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Synchronous on purpose: env.py runs its own event loop."""
    command.upgrade(alembic_config(url), revision)
