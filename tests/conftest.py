"""Shared fixtures: a migrated database per test (SQLite, and PostgreSQL when available),
the test org config applied, and a fake clock."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import load_config
from storage import db
from storage.config_apply import apply_config

FIXTURES = Path(__file__).parent / "fixtures"
ORG_YAML = FIXTURES / "org.yaml"
# Monday 23 November 2026, 09:00 in Helsinki: inside the gold contract's business hours.
MONDAY_9_HELSINKI = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Saved knowledge-base indexes of PostgreSQL test databases go to a temporary folder, not ~/.cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file, which is much faster than migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(db.migrate(f"sqlite://{path}"))
    return path


async def _pg_database(template: str | None = None) -> tuple[str, str]:
    import asyncpg

    name = f"chatdesk_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        suffix = f" TEMPLATE {template}" if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await admin.close()
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


async def _pg_drop(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL not set (make test starts PostgreSQL)")
    name, url = asyncio.run(_pg_database())
    asyncio.run(db.migrate(url))
    yield name
    asyncio.run(_pg_drop(name))


def _url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = tmp_path / "chatdesk.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite://{path}"
        return
    template = request.getfixturevalue("pg_template")
    name, url = asyncio.run(_pg_database(template))
    yield url
    asyncio.run(_pg_drop(name))


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty SQLite database for one test."""
    yield from _url_for("sqlite", request, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test, once on SQLite and once on PostgreSQL."""
    yield from _url_for(request.param, request, tmp_path)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty PostgreSQL database (skipped when PostgreSQL is not available)."""
    yield from _url_for("postgres", request, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_9_HELSINKI)


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[str]:
    """The test org applied to an open SQLite database."""
    await db.init(db_url)
    await apply_config(load_config(ORG_YAML))
    try:
        yield db_url
    finally:
        await db.close()


@pytest.fixture
async def any_database(any_db_url: str) -> AsyncIterator[str]:
    """The test org applied to an open database, on SQLite and on PostgreSQL."""
    await db.init(any_db_url)
    await apply_config(load_config(ORG_YAML))
    try:
        yield any_db_url
    finally:
        await db.close()
