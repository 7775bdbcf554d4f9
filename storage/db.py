"""Database connection and migrations: one place that knows how Tortoise is started."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise, connections

DEFAULT_DATABASE_URL = "sqlite://chatdesk.sqlite3"
APP_LABEL = "models"
MIGRATIONS_MODULE = "storage.migrations"
POOL_SIZE = 10  # PostgreSQL connections per process unless DATABASE_URL says ?maxsize=N
_sessions = 0  # how many times this process has opened a database


def session() -> int:
    """Which opening of the database this is (config_version.current keys what it read by it)."""
    return _sessions


def dialect() -> str:
    """The open database's kind: "sqlite" or "postgres"."""
    return str(connections.get("default").capabilities.dialect)


def stored_time(value: object) -> datetime:
    """A timestamp from a raw query: a datetime (PostgreSQL) or ISO-8601 text (SQLite), always aware."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def param(n: int, postgres: bool) -> str:
    """A raw query's n-th parameter (from 1): `$n` for asyncpg, `?` for sqlite3."""
    return f"${n}" if postgres else "?"


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "asyncpg://", "psycopg://"))


def tortoise_config(url: str | None = None) -> dict[str, Any]:
    url = database_url(url)
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    from tortoise.backends.base.config_generator import expand_db_url

    connection = expand_db_url(url)
    if url.startswith("sqlite://"):
        connection["engine"] = "storage.sqlite_engine"  # transactions in turn across processes
    elif is_postgres(url):
        # The worker process holds a connection per inbox worker, the outbox's and the reminders'.
        connection["credentials"].setdefault("maxsize", POOL_SIZE)
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": ["storage.models"],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init(url: str | None = None) -> None:
    """Open the connection pool; the global fallback lets aiohttp's request tasks see it."""
    # Tortoise caches SQL per connection name; a process that moves from SQLite to
    # PostgreSQL (the test suite does) must not reuse SQLite's placeholders.
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    EXECUTOR_CACHE.clear()
    global _sessions
    _sessions += 1
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    if not is_postgres(database_url(url)):
        conn = connections.get("default")
        # WAL lets the console and the server share one SQLite file without "database is locked".
        # synchronous=NORMAL with WAL skips an fsync per commit and cannot corrupt the file; a process
        # crash loses nothing, a power loss may lose the last commits (PostgreSQL is for production).
        await conn.execute_script("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;")


async def close() -> None:
    await Tortoise.close_connections()


@asynccontextmanager
async def database(url: str | None = None, *, migrate_first: bool = False) -> AsyncIterator[None]:
    if migrate_first:
        await migrate(url)
    await init(url)
    try:
        yield
    finally:
        await close()


async def migrate(url: str | None = None, progress: Callable[[str, str, str], object] | None = None) -> None:
    """Create or upgrade the schema with the checked-in Tortoise migrations."""
    from tortoise.migrations.api import migrate as run_migrations

    await run_migrations(config=tortoise_config(url), progress=progress)
    await Tortoise.close_connections()


# For Tortoise's own CLI (`tortoise -c storage.db.TORTOISE_ORM makemigrations`).
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
