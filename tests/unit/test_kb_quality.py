"""Suggestion quality on a small helpdesk knowledge base (tests/fixtures/kb): right articles
for real-looking questions, nothing for chat that is not a question about the knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.importer import collect, read_articles
from kb.index import Document, KbIndex

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kb"


@pytest.fixture(scope="module")
def index() -> KbIndex:
    articles, skipped = read_articles(collect([FIXTURES / "articles"]))
    assert skipped == []
    return KbIndex(Document(a.article_id, a.title, a.body, a.tags, a.url) for a in articles)


def questions() -> list[tuple[str, set[str]]]:
    rows = [json.loads(line) for line in (FIXTURES / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(row["query"], set(row["expected"])) for row in rows]


def test_questions_find_their_article(index: KbIndex) -> None:
    ranks = []
    for query, expected in questions():
        found = [s.id for s in index.search(query, limit=3)]
        ranks.append(next((n for n, article in enumerate(found, 1) if article in expected), None))
    misses = [q for (q, _), r in zip(questions(), ranks, strict=True) if r is None]
    assert not misses, f"no right article in the top 3 for: {misses}"
    mrr = sum(1 / r for r in ranks if r) / len(ranks)
    assert mrr >= 0.9, ranks


def test_off_topic_chat_gets_no_suggestion(index: KbIndex) -> None:
    chat = [line for line in (FIXTURES / "off_topic.txt").read_text(encoding="utf-8").splitlines() if line]
    noisy = {line: [s.id for s in index.search(line)] for line in chat}
    assert {line: found for line, found in noisy.items() if found} == {}
