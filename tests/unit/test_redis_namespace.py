"""Redis keys are namespaced per deployment: the processes of one share them, two deployments (a
benchmark and a county, two test runs) on one Redis never meet (a shared scheduler-leader key let
one deployment's leader starve the other's timers)."""

from __future__ import annotations

from storage.database import redis_namespace


def namespace(url: str, prefix: str | None = None) -> str:
    return redis_namespace(prefix, url)


def test_processes_of_one_deployment_share_keys_and_other_deployments_do_not() -> None:
    county = namespace("postgresql://gridbot:secret@db/county")
    assert county == namespace("postgresql+asyncpg://gridbot:secret@db/county")  # the same database
    assert county == namespace("postgresql://gridbot:rotated@db/county")  # the password is not part of it
    assert county != namespace("postgresql://gridbot:secret@db/province")
    assert county.startswith("gridbot:") and "secret" not in county
    assert namespace("postgresql://gridbot@db/county", prefix="county-a") == "county-a"
