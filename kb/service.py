"""The knowledge base as the rest of chatdesk sees it: import, search, feedback, drafts, questions.

The search index lives in memory, one per process, and is never built where someone is
waiting for it: a search uses the index it has (none yet: no suggestions) and, when
the last check is older than CHECK_INTERVAL seconds, asks a background task to compare
it with the database. That task runs outside any transaction, reads only the articles
changed since the index was made (an import touches a few), builds the new index in a
thread and swaps it in with one assignment; searches meanwhile keep the old one.

The index is also saved to a file (beside a SQLite database, else in the user's cache
folder) so a restart or a `chatdesk kb search` loads it instead of rebuilding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import pickle
import re
import secrets
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.functions import Count, Max, Sum
from tortoise.transactions import in_transaction

from kb.importer import ImportReport, MissingPathError, ParsedArticle, collect, read_articles
from kb.index import Document, KbIndex, Suggestion
from storage.models import KbArticle, KbFeedback, KbQuestion

__all__ = [
    "ImportReport",
    "MissingPathError",
    "Suggestion",
    "add_question",
    "draft_from_ticket",
    "import_paths",
    "invalidate",
    "questions",
    "ready",
    "record_solved",
    "remove_question",
    "search",
]

log = logging.getLogger(__name__)

CHECK_INTERVAL = 3.0  # seconds between checks for articles changed by another process
SAVE_INTERVAL = 300.0  # an incrementally updated index is saved at most this often (a full build always)
# Incremental reads go back this far before the newest change they saw: a transaction that
# committed late may carry an earlier updated_at than one that committed before it.
COMMIT_SLACK = timedelta(seconds=60)
MAX_QUESTION_CHARS = 1000
_BATCH = 500
_FORMAT = 1  # of the saved index file


@dataclass(frozen=True)
class _Stamp:
    """What an index was built from: the database, its article signature, the newest change."""

    database: str
    signature: tuple[Any, ...]
    latest: datetime | None


@dataclass
class _Cache:
    index: KbIndex | None = None
    checked_at: float = 0.0
    task: asyncio.Task[None] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    saved_at: float = float("-inf")


_cache = _Cache()


def invalidate() -> None:
    """Forget the index in memory; the next search or ready() loads or rebuilds it."""
    if _cache.task is not None and not _cache.task.done():
        _cache.task.cancel()
    _cache.task = None
    _cache.index = None
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
        await ready(force=True)  # outside the import's transaction: only the changed articles are read
    return report


async def search(query: str, limit: int = 5) -> list[Suggestion]:
    """Published articles that answer the query, best first; [] when nothing is relevant enough.

    Never waits for the index: with none loaded yet it answers [] and starts loading one.
    """
    if limit <= 0 or not query.strip():
        return []
    index = _cache.index
    if index is not None and _stamp_of(index).database != _database():
        invalidate()
        index = None
    if index is None or time.monotonic() - _cache.checked_at >= CHECK_INTERVAL:
        _start_refresh()
    return index.search(query, limit) if index is not None else []


async def ready(force: bool = False) -> KbIndex:
    """The index, up to date with the database; waits for a load or build (the CLI, imports)."""
    task = _cache.task
    if task is not None and _cache.loop is asyncio.get_running_loop() and not task.done():
        await asyncio.shield(task)
    index = _cache.index
    stale = index is None or _stamp_of(index).database != _database()
    if force or stale or time.monotonic() - _cache.checked_at >= CHECK_INTERVAL:
        await _refresh()
        _cache.checked_at = time.monotonic()
    assert _cache.index is not None
    return _cache.index


def start() -> None:
    """Load or build the index in the background now (at server start-up)."""
    _start_refresh(force=True)


async def stop() -> None:
    """Cancel a refresh still running (at shut-down, before the database closes)."""
    task = _cache.task
    if task is not None and _cache.loop is asyncio.get_running_loop() and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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


async def solved_articles(ticket_id: int) -> list[str]:
    """Articles a contact said solved this ticket, first click first."""
    rows = await KbFeedback.filter(ticket_id=ticket_id).order_by("id").values_list("article_id", flat=True)
    return [str(r) for r in rows]


async def article_exists(article_id: str) -> bool:
    return await KbArticle.filter(article_id=article_id).exists()


async def add_question(article_id: str, question: str, *, ticket_id: int | None, source: str) -> bool:
    """Keep a ticket's wording as an alternate question of the article; False if already kept.

    The article's updated_at moves, so every process's index picks the question up.
    """
    question = " ".join(question.split())[:MAX_QUESTION_CHARS]
    if not question:
        return False
    if ticket_id is not None and await KbQuestion.filter(article_id=article_id, ticket_id=ticket_id).exists():
        return False
    try:
        await KbQuestion.create(
            article_id=article_id, text=question, ticket_id=ticket_id, source=source, created_at=datetime.now(UTC)
        )
    except IntegrityError:
        return False
    await KbArticle.filter(article_id=article_id).update(updated_at=datetime.now(UTC))
    _cache.checked_at = 0.0
    return True


async def questions(article_id: str) -> list[KbQuestion]:
    """The article's alternate questions, oldest first."""
    return await KbQuestion.filter(article_id=article_id).order_by("id")


async def remove_question(article_id: str, question_id: int) -> bool:
    """Forget one alternate question; False if the article has no question with that id."""
    deleted = await KbQuestion.filter(article_id=article_id, id=question_id).delete()
    if not deleted:
        return False
    await KbArticle.filter(article_id=article_id).update(updated_at=datetime.now(UTC))
    _cache.checked_at = 0.0
    return True


async def draft_from_ticket(
    title: str, body: str, tags: Sequence[str] = (), *, question: str | None = None, ticket_id: int | None = None
) -> str:
    """Store a ticket's resolution as a draft article and return its id.

    Drafts are never suggested; importing a file with the same id publishes it. The
    ticket's own words (question) become the article's first alternate question.
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
        if question:
            await add_question(article_id, question, ticket_id=ticket_id, source="draft")
        return article_id
    raise RuntimeError("could not find a free id for the draft article")


# -- the index --------------------------------------------------------------------------------


def _database() -> str:
    return str(connections.db_config.get("default"))


def _stamp_of(index: KbIndex) -> _Stamp:
    stamp = index.stamp
    assert isinstance(stamp, _Stamp)
    return stamp


def _start_refresh(force: bool = False) -> asyncio.Task[None] | None:
    """Start the background refresh unless one is running; returns the running one."""
    loop = asyncio.get_running_loop()
    task = _cache.task
    if task is not None and _cache.loop is loop and not task.done():
        return task
    if not force and _cache.index is not None and time.monotonic() - _cache.checked_at < CHECK_INTERVAL:
        return None
    _cache.checked_at = time.monotonic()  # one refresh per interval, however many searches ask
    _cache.task, _cache.loop = loop.create_task(_background()), loop
    return _cache.task


async def _background() -> None:
    _leave_transaction()
    try:
        await _refresh()
    except Exception:  # a failing knowledge base never breaks what asked for a search
        log.exception("knowledge-base index refresh failed")
        _cache.checked_at = 0.0


def _leave_transaction() -> None:
    """Use the plain connection in this task, not the transaction of the code that started it.

    A task copies its creator's context, and with it Tortoise's current transaction: reading
    thousands of articles inside a worker's transaction would hold its locks meanwhile.
    """
    try:
        conn = connections.get("default")
    except Exception:  # not configured: the refresh reports it
        return
    root = conn
    while getattr(root, "_parent", None) is not None:
        root = root._parent
    if root is not conn:
        connections.set("default", root)


async def _refresh() -> None:
    database = _database()
    signature, latest = await _signature()
    index = _cache.index
    if index is not None and _stamp_of(index).database != database:
        index = None
    path = _index_path(database)
    if index is None and path is not None:
        index = await asyncio.to_thread(_load, path, database)
    if index is not None and _stamp_of(index).signature == signature:
        _cache.index = index
        return
    full = index is None or index.needs_rebuild
    if index is None or index.needs_rebuild:
        documents = await _documents(None)
        built = await asyncio.to_thread(_build, documents)
    else:
        since = _stamp_of(index).latest
        documents = await _documents(since - COMMIT_SLACK if since is not None else None)
        built = await asyncio.to_thread(index.with_documents, documents)
        if len(built) != signature[0]:  # something changed that the incremental read cannot see
            built = await asyncio.to_thread(_build, await _documents(None))
            full = True
    built.stamp = _Stamp(database, signature, latest)
    _cache.index = built  # the swap: searches from now on use the new index
    if path is not None and (full or time.monotonic() - _cache.saved_at >= SAVE_INTERVAL):
        await asyncio.to_thread(_save, path, built)
        _cache.saved_at = time.monotonic()


def _build(documents: list[Document]) -> KbIndex:
    """A full build: every article analysed (seconds at 100k articles, in a thread)."""
    return KbIndex(documents)


async def _documents(since: datetime | None) -> list[Document]:
    """Published articles (changed at or after `since`, if given) with their questions."""
    query = KbArticle.filter(draft=False)
    if since is not None:
        query = query.filter(updated_at__gte=since)
    rows = await query.order_by("id").values_list("article_id", "title", "tags", "body", "url")
    asked: dict[str, list[str]] = defaultdict(list)
    ids = [r[0] for r in rows]
    if since is None:
        for article_id, question in await KbQuestion.all().order_by("id").values_list("article_id", "text"):
            asked[str(article_id)].append(str(question))
    else:
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            for article_id, question in (
                await KbQuestion.filter(article_id__in=chunk).order_by("id").values_list("article_id", "text")
            ):
                asked[str(article_id)].append(str(question))
    return [
        Document(
            id=aid, title=title, body=body, tags=tuple(str(t) for t in tags or ()), url=url,
            questions=tuple(asked.get(aid, ())),
        )
        for aid, title, tags, body, url in rows
    ]


async def _signature() -> tuple[tuple[Any, ...], datetime | None]:
    """Changes whenever a published article is added, updated or gains or loses a question."""
    rows = (
        await KbArticle.filter(draft=False)
        .annotate(n=Count("id"), latest=Max("updated_at"), ids=Sum("id"))
        .values("n", "latest", "ids")
    )
    row = rows[0] if rows else {}
    latest = row.get("latest")
    if isinstance(latest, str):
        latest = datetime.fromisoformat(latest)
    asked = await KbQuestion.all().annotate(n=Count("id"), last=Max("id")).values("n", "last")
    questions = asked[0] if asked else {}
    return (
        row.get("n") or 0, str(latest), row.get("ids") or 0, questions.get("n") or 0, questions.get("last") or 0
    ), latest


def _index_path(database: str) -> Path | None:
    """Where the index of this database is saved: beside a SQLite file, else in the cache folder."""
    if database.startswith("sqlite://"):
        name = database[len("sqlite://") :]
        if not name or name.startswith(":memory:"):
            return None
        return Path(name + ".kbindex")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chatdesk"
    return cache / f"kb-{hashlib.sha256(database.encode()).hexdigest()[:20]}.kbindex"


def _load(path: Path, database: str) -> KbIndex | None:
    """The saved index, or None when there is none or it is unreadable (it is rebuilt then)."""
    try:
        with path.open("rb") as file:
            version, index = pickle.load(file)
    except FileNotFoundError:
        return None
    except Exception:  # a damaged or old file is simply rebuilt
        log.warning("ignoring unreadable knowledge-base index %s", path)
        return None
    if version != _FORMAT or not isinstance(index, KbIndex) or not isinstance(index.stamp, _Stamp):
        return None
    return index if index.stamp.database == database else None


def _save(path: Path, index: KbIndex) -> None:
    """Write atomically: another process loading the file sees the old or the new one whole."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            pickle.dump((_FORMAT, index), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not save the knowledge-base index to %s: %s", path, exc)
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)


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
