"""The knowledge base as the rest of chatdesk sees it: import, search, feedback, drafts.

The search index lives in memory, one per process. It is built from the database on the
first search and rebuilt when the set of published articles changes. Checking for a
change costs one small aggregate query, made at most every CHECK_INTERVAL seconds, so a
server notices an import done by `chatdesk kb import` in another process within seconds.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.functions import Count, Max, Sum
from tortoise.transactions import in_transaction

from kb.importer import ImportReport, MissingPathError, ParsedArticle, collect, read_articles
from kb.index import Document, KbIndex, Suggestion
from storage.models import KbArticle, KbFeedback

__all__ = [
    "ImportReport",
    "MissingPathError",
    "Suggestion",
    "draft_from_ticket",
    "import_paths",
    "invalidate",
    "record_solved",
    "search",
]

CHECK_INTERVAL = 3.0  # seconds between checks for articles changed by another process
_BATCH = 500


@dataclass
class _Cache:
    index: KbIndex | None = None
    signature: tuple[Any, ...] | None = None
    checked_at: float = 0.0
    database: str | None = None  # which database the index was built from
    lock: asyncio.Lock | None = None
    loop: asyncio.AbstractEventLoop | None = None


_cache = _Cache()


def invalidate() -> None:
    """Forget the index; the next search rebuilds it from the database."""
    _cache.index = None
    _cache.signature = None
    _cache.checked_at = 0.0


async def import_paths(
    paths: Sequence[str | Path], progress: Callable[[Path], object] | None = None
) -> ImportReport:
    """Import Markdown files and folders: new ids are created, known ids updated in place.

    Raises MissingPathError (and imports nothing) when a path does not exist. Files that
    cannot be read are listed in the report's `skipped` with the reason.
    """
    files = collect(paths)
    articles, skipped = await asyncio.to_thread(read_articles, files, progress)
    report = ImportReport(skipped=skipped)
    if not articles:
        return report
    now = datetime.now(UTC)
    async with in_transaction():
        existing: dict[str, KbArticle] = {}
        ids = [a.article_id for a in articles]
        for start in range(0, len(ids), _BATCH):
            for row in await KbArticle.filter(article_id__in=ids[start : start + _BATCH]):
                existing[row.article_id] = row
        new: list[KbArticle] = []
        changed: list[KbArticle] = []
        for article in articles:
            known = existing.get(article.article_id)
            if known is None:
                new.append(_row(article, now))
                report.imported.append(article.article_id)
            elif _same(known, article):
                report.unchanged.append(article.article_id)
            else:
                row = known
                row.title, row.tags, row.body = article.title, list(article.tags), article.body
                row.source, row.url, row.draft, row.updated_at = article.source, article.url, False, now
                changed.append(row)
                report.updated.append(article.article_id)
        if new:
            await KbArticle.bulk_create(new, batch_size=_BATCH)
        if changed:
            await KbArticle.bulk_update(
                changed, fields=["title", "tags", "body", "source", "url", "draft", "updated_at"], batch_size=_BATCH
            )
    if new or changed:
        invalidate()
    return report


async def search(query: str, limit: int = 5) -> list[Suggestion]:
    """Published articles that answer the query, best first; [] when nothing is relevant enough."""
    if limit <= 0 or not query.strip():
        return []
    index = await _current_index()
    return index.search(query, limit)


async def record_solved(ticket_id: int, article_id: str, contact_id: int | None = None) -> bool:
    """Remember that an article solved a ticket; False if that was already recorded."""
    try:
        _, created = await KbFeedback.get_or_create(
            ticket_id=ticket_id,
            article_id=article_id,
            defaults={"contact_id": contact_id, "created_at": datetime.now(UTC)},
        )
    except IntegrityError:
        return False  # recorded at the same moment by another request
    return bool(created)


async def draft_from_ticket(title: str, body: str, tags: Sequence[str] = ()) -> str:
    """Store a ticket's resolution as a draft article and return its id.

    Drafts are never suggested; importing a file with the same id publishes it.
    """
    title = " ".join(title.split())[:500] or "Untitled"
    slug = re.sub(r"[^a-z0-9]+", "-", title.casefold()).strip("-")[:60].strip("-") or "article"
    for _ in range(5):
        article_id = f"draft-{slug}-{secrets.token_hex(3)}"
        try:
            await KbArticle.create(
                article_id=article_id,
                title=title,
                tags=[t for t in dict.fromkeys(tag.strip() for tag in tags) if t],
                body=body,
                source="ticket",
                draft=True,
                updated_at=datetime.now(UTC),
            )
        except IntegrityError:
            continue
        return article_id
    raise RuntimeError("could not find a free id for the draft article")


# -- the index --------------------------------------------------------------------------------


def _fresh() -> KbIndex | None:
    """The cached index if it was checked recently against the database now in use."""
    if _cache.index is None or time.monotonic() - _cache.checked_at >= CHECK_INTERVAL:
        return None
    return _cache.index if _cache.database == _database() else None


def _database() -> str:
    return str(connections.db_config.get("default"))


async def _current_index() -> KbIndex:
    index = _fresh()
    if index is not None:
        return index
    async with _lock():
        index = _fresh()
        if index is not None:
            return index
        if _cache.database != _database():
            invalidate()
            _cache.database = _database()
        signature = await _signature()
        if _cache.index is None or signature != _cache.signature:
            rows = await KbArticle.filter(draft=False).order_by("id").values_list(
                "article_id", "title", "tags", "body", "url"
            )
            documents = [
                Document(id=aid, title=title, body=body, tags=tuple(str(t) for t in tags or ()), url=url)
                for aid, title, tags, body, url in rows
            ]
            # Building takes seconds for a large knowledge base: keep the event loop free meanwhile.
            _cache.index = await asyncio.to_thread(KbIndex, documents)
            _cache.signature = signature
        _cache.checked_at = time.monotonic()
        return _cache.index


async def _signature() -> tuple[Any, ...]:
    """Changes whenever a published article is added, removed or updated."""
    rows = (
        await KbArticle.filter(draft=False)
        .annotate(n=Count("id"), latest=Max("updated_at"), ids=Sum("id"))
        .values("n", "latest", "ids")
    )
    row = rows[0] if rows else {}
    return (row.get("n"), str(row.get("latest")), row.get("ids"))


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if _cache.lock is None or _cache.loop is not loop:
        _cache.lock, _cache.loop = asyncio.Lock(), loop
    return _cache.lock


def _row(article: ParsedArticle, now: datetime) -> KbArticle:
    return KbArticle(
        article_id=article.article_id,
        title=article.title,
        tags=list(article.tags),
        body=article.body,
        source=article.source,
        url=article.url,
        draft=False,
        updated_at=now,
    )


def _same(row: KbArticle, article: ParsedArticle) -> bool:
    return (
        not row.draft
        and row.title == article.title
        and list(row.tags or []) == list(article.tags)
        and row.body == article.body
        and row.source == article.source
        and row.url == article.url
    )
