"""Reading knowledge-base articles from Markdown files (no database here).

An article is one Markdown file with optional YAML front matter:

    ---
    id: vpn-reset            # default: the file name without .md
    title: Reset the VPN     # default: the first "# heading", else the file name
    tags: [vpn, network]     # a list, or one comma-separated string
    url: https://...         # optional link shown with the suggestion
    ---
    Body in Markdown.

A bad file never stops an import: it is skipped with a reason that names the file (and
the line, for bad front matter), and the other files are read as usual.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1_000_000
MARKDOWN_SUFFIXES = (".md", ".markdown")
MAX_ID_LENGTH = 200
MAX_TITLE_LENGTH = 500
MAX_URL_LENGTH = 1000

log = logging.getLogger("chatdesk.kb")

_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^(```|~~~)")


class MissingPathError(Exception):
    """Paths given to an import that do not exist; nothing is imported."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        super().__init__("no such file or folder: " + ", ".join(self.paths))


class ArticleError(Exception):
    """A file that cannot be imported; the message names the file (and line)."""


@dataclass(frozen=True)
class ParsedArticle:
    article_id: str
    title: str
    tags: tuple[str, ...]
    body: str
    source: str  # the file it came from
    url: str | None = None


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did, article ids per outcome and skipped files with reasons."""

    imported: list[str] = field(default_factory=list)  # new articles
    updated: list[str] = field(default_factory=list)  # existing ids whose content changed
    unchanged: list[str] = field(default_factory=list)  # existing ids, same content
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def found(self) -> int:
        """Articles read successfully (imported, updated or unchanged)."""
        return len(self.imported) + len(self.updated) + len(self.unchanged)


def collect(paths: Iterable[str | Path]) -> list[Path]:
    """The Markdown files named by paths (folders are searched recursively), in a stable order.

    Inside a folder, links are not followed out of it: a symlink to a file elsewhere (say
    /etc/passwd renamed .md) or to a folder elsewhere is passed over with a warning.
    Raises MissingPathError naming every path that does not exist.
    """
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(_markdown_in(path))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(str(raw))
    if missing:
        raise MissingPathError(missing)
    unique: dict[Path, None] = {}
    for file in files:
        unique.setdefault(file.resolve(), None)
    return list(unique)


def _markdown_in(folder: Path) -> list[Path]:
    root = folder.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            candidate = here / name
            if name.startswith(".") or candidate.suffix.lower() not in MARKDOWN_SUFFIXES:
                continue
            target = candidate.resolve()
            if not target.is_relative_to(root):
                log.warning("kb import: %s links outside %s; not imported", candidate, folder)
                continue
            if target.is_file():
                found.append(candidate)
    return sorted(found)


def read_articles(
    files: Sequence[Path], progress: Callable[[Path], object] | None = None
) -> tuple[list[ParsedArticle], list[Skipped]]:
    """Parse files; a duplicate id keeps the first file and skips the later ones."""
    articles: dict[str, ParsedArticle] = {}
    skipped: list[Skipped] = []
    for file in files:
        if file.suffix.lower() not in MARKDOWN_SUFFIXES:
            skipped.append(Skipped(str(file), "not a Markdown file (.md)"))
            continue
        try:
            article = parse_file(file)
        except ArticleError as exc:
            skipped.append(Skipped(str(file), str(exc)))
        else:
            first = articles.get(article.article_id)
            if first is None:
                articles[article.article_id] = article
            else:
                skipped.append(Skipped(str(file), f"duplicate id {article.article_id!r}, also in {first.source}"))
        if progress is not None:
            progress(file)
    return list(articles.values()), skipped


def parse_file(path: Path) -> ParsedArticle:
    """One article from one file; raises ArticleError with the reason."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ArticleError(f"too large ({size / 1_000_000:.1f} MB; the limit is 1 MB)")
        data = path.read_bytes()
    except OSError as exc:
        raise ArticleError(f"cannot read the file: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise ArticleError("binary file, not Markdown text")
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"not UTF-8 text (byte {exc.start}), not Markdown") from None
    return parse_markdown(content, path)


def parse_markdown(content: str, path: Path) -> ParsedArticle:
    content = content.replace("\r\n", "\n").replace("\r", "\n")
    meta, body = _front_matter(content)
    article_id = _text_field(meta, "id", MAX_ID_LENGTH) or path.stem
    if not article_id.strip() or len(article_id) > MAX_ID_LENGTH:
        raise ArticleError(f"id: {article_id!r} must be 1..{MAX_ID_LENGTH} characters")
    title = _text_field(meta, "title", MAX_TITLE_LENGTH)
    if title is None:
        heading = _first_heading(body)
        if heading is not None:
            title, line = heading
            lines = body.split("\n")
            body = "\n".join(lines[:line] + lines[line + 1 :])
        else:
            title = path.stem
    title = title[:MAX_TITLE_LENGTH]
    body = body.strip("\n")
    if not body.strip() and not meta:
        raise ArticleError("empty file")
    url = _text_field(meta, "url", MAX_URL_LENGTH)
    return ParsedArticle(
        article_id=article_id.strip(),
        title=title.strip(),
        tags=_tags(meta.get("tags")),
        body=body,
        source=str(path),
        url=url,
    )


def _front_matter(content: str) -> tuple[dict[str, Any], str]:
    """The front matter's keys and the Markdown after it."""
    lines = content.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return {}, content
    for number in range(1, len(lines)):
        if lines[number].rstrip() in ("---", "..."):
            break
    else:
        raise ArticleError("line 1: front matter starts with --- but is never closed with ---")
    raw = "\n".join(lines[1:number])
    try:
        meta = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        # Marks count from 0 within the front matter, which starts on the file's line 2.
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 2 if mark is not None else 1
        reason = f"line {line}: bad front matter: {getattr(exc, 'problem', None) or 'invalid YAML'}"
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line + 2 != line:
            reason += f" ({context} started on line {context_mark.line + 2})"
        raise ArticleError(reason) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ArticleError("line 2: bad front matter: expected keys such as id, title and tags")
    return meta, "\n".join(lines[number + 1 :])


def _text_field(meta: dict[str, Any], key: str, limit: int) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ArticleError(f"front matter {key}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > limit:
        raise ArticleError(f"front matter {key}: longer than {limit} characters")
    return text or None


def _tags(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
    tags = (str(item).strip() for item in items if item is not None)
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def _first_heading(body: str) -> tuple[str, int] | None:
    in_fence = False
    for number, line in enumerate(body.split("\n")):
        if _FENCE.match(line.lstrip()):
            in_fence = not in_fence
            continue
        if not in_fence:
            match = _HEADING.match(line)
            if match:
                return match.group(1), number
    return None
