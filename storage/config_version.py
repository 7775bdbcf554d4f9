"""The configuration's version: a counter the database itself raises on every change.

Triggers on the configuration tables (people, channels, customers, contracts, calendars, support
teams) add one to `config_version.version` in the same transaction as the change, whoever makes
it: `config apply` in another process, a command, a test's bulk update or hand-written SQL. A
reader that saw version N may keep what it read while the version is still N.

A customer's `next_number` is not configuration: a new ticket bumps it, and a trigger on it would
make every ticket a configuration change.
"""

from __future__ import annotations

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from storage import db

# Every configuration table, with the columns whose changes do not count.
CONFIG_TABLES: dict[str, frozenset[str]] = {
    "calendar": frozenset(),
    "contract": frozenset(),
    "customer": frozenset({"id", "next_number"}),
    "channel_binding": frozenset(),
    "person": frozenset(),
    "support_team": frozenset(),
}
FUNCTION = "chatdesk_config_changed"


def watched_columns(table: str) -> list[str] | None:
    """The columns an UPDATE must name to count; None: every UPDATE counts."""
    from storage import models

    ignored = CONFIG_TABLES[table]
    if not ignored:
        return None
    model = next(m for m in vars(models).values()
                 if isinstance(m, type) and issubclass(m, models.Model) and m is not models.Model
                 and m._meta.db_table == table)
    return sorted(model._meta.fields_db_projection[name] for name in model._meta.fields_db_projection
                  if model._meta.fields_db_projection[name] not in ignored)


def trigger_sql(dialect: str) -> str:
    """The triggers (and, on PostgreSQL, their function) as one script."""
    bump = 'UPDATE "config_version" SET "version" = "version" + 1'
    parts: list[str] = []
    if dialect == "postgres":
        parts.append(f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                     f"BEGIN {bump}; RETURN NULL; END $$;")
    for table in CONFIG_TABLES:
        columns = watched_columns(table)
        update = "UPDATE" + (" OF " + ", ".join(f'"{c}"' for c in columns) if columns else "")
        if dialect == "postgres":
            parts.append(f'CREATE TRIGGER "config_changed_{table}" AFTER INSERT OR {update} OR DELETE OR TRUNCATE '
                         f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}();')
            continue
        for event in ("INSERT", update, "DELETE"):
            name = f"config_changed_{table}_{event.split()[0].lower()}"
            parts.append(f'CREATE TRIGGER "{name}" AFTER {event} ON "{table}" BEGIN {bump}; END;')
    return "\n".join(parts)


async def install(client: BaseDBAsyncClient) -> None:
    """Create the version row and the triggers (the migration's step)."""
    await client.execute_script('INSERT INTO "config_version" ("id", "version") VALUES (1, 0);\n'
                                + trigger_sql(str(client.capabilities.dialect)))


async def current() -> tuple[int, int] | None:
    """(this process's database session, the configuration version); None without the version row.

    The session number changes whenever the process opens the database again (tests do, once per
    test database), so what was read from one database is never taken for another's."""
    conn = connections.get("default")
    rows = await conn.execute_query_dict('SELECT "version" FROM "config_version" WHERE "id" = 1')
    return (db.session(), int(rows[0]["version"])) if rows else None
