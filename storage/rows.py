"""Lookups by equal columns and inserts of write-only rows, with their SQL written once per shape.

Tortoise builds a query's SQL afresh every time it runs, and for a lookup by three or four
columns that costs more than SQLite's own work: a new ticket's contact lookup alone was a fifth
of the inbox worker's time. These helpers cover the hot path and nothing more: equality on
columns (None meaning IS NULL), the first row or whether there is one, and `add` for rows that
are written and not read back (the audit trail, the intake record), which need no model object,
and `insert` for a new model object (a ticket, a message) without the ORM's save machinery.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from tortoise import connections
from tortoise.fields.base import Field
from tortoise.models import Model

from storage.db import param

M = TypeVar("M", bound=Model)


@lru_cache(maxsize=256)
def _sql(model: type[Model], names: tuple[str, ...], nulls: tuple[bool, ...], dialect: str, what: str) -> str:
    meta = model._meta
    where, n = [], 0
    for name, null in zip(names, nulls, strict=True):
        column = meta.fields_db_projection[name]
        if null:
            where.append(f'"{column}" IS NULL')
        else:
            n += 1
            where.append(f'"{column}" = {param(n, dialect == "postgres")}')
    columns = "1" if what == "exists" else ",".join(f'"{c}"' for c in meta.fields_db_projection.values())
    return f'SELECT {columns} FROM "{meta.db_table}" WHERE {" AND ".join(where)} LIMIT 1'


async def _rows(model: type[Model], where: dict[str, Any], what: str) -> list[dict[str, Any]]:
    conn = connections.get(model._meta.default_connection or "default")
    names = tuple(where)
    nulls = tuple(where[n] is None for n in names)
    fields = model._meta.fields_map
    values = [fields[n].to_db_value(where[n], model) for n in names if where[n] is not None]
    return await conn.execute_query_dict(_sql(model, names, nulls, conn.capabilities.dialect, what), values)


async def first(model: type[M], **where: Any) -> M | None:
    """`model.filter(**where).first()` for equal columns (no ordering: one row a unique key finds)."""
    rows = await _rows(model, where, "first")
    return model._init_from_db(**rows[0]) if rows else None


async def exists(model: type[Model], **where: Any) -> bool:
    """`model.filter(**where).exists()` for equal columns."""
    return bool(await _rows(model, where, "exists"))


@lru_cache(maxsize=64)
def _insert(model: type[Model], dialect: str) -> tuple[str, tuple[tuple[str, Field[Any]], ...]]:
    meta = model._meta
    generated = set(meta.generated_db_fields)
    columns = tuple((name, meta.fields_map[name]) for name, column in meta.fields_db_projection.items()
                    if column not in generated)
    marks = ",".join(param(i, dialect == "postgres") for i in range(1, len(columns) + 1))
    names = ",".join(f'"{meta.fields_db_projection[name]}"' for name, _ in columns)
    return f'INSERT INTO "{meta.db_table}" ({names}) VALUES ({marks}) RETURNING "{meta.db_pk_column}"', columns


def _default(field: Field[Any]) -> Any:
    return field.default() if callable(field.default) else field.default


async def add(model: type[Model], **values: Any) -> int:
    """Insert one row as `model.create(**values)` would (defaults, validation) and return its id."""
    conn = connections.get(model._meta.default_connection or "default")
    sql, columns = _insert(model, conn.capabilities.dialect)
    unknown = set(values) - {name for name, _ in columns}
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    row = [field.to_db_value(values[name] if name in values else _default(field), model) for name, field in columns]
    stored = await conn.execute_query_dict(sql, row)
    return int(stored[0][model._meta.db_pk_column])


async def insert(instance: M) -> M:
    """Store a new model object as `instance.save()` would (its own values, its id set from the
    database), with the INSERT written once; the model has no signals, so nothing else happens."""
    model = type(instance)
    conn = connections.get(model._meta.default_connection or "default")
    sql, columns = _insert(model, conn.capabilities.dialect)
    row = [field.to_db_value(getattr(instance, name), instance) for name, field in columns]
    stored = await conn.execute_query_dict(sql, row)
    setattr(instance, model._meta.pk_attr, stored[0][model._meta.db_pk_column])
    instance._saved_in_db = True
    return instance
