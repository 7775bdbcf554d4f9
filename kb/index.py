"""An in-memory inverted index over knowledge-base articles, with a confidence score.

Ranking is BM25F: a word in the title or the tags counts several times a word in the
body, because the title says what an article is about while the body also mentions
things in passing. Adjacent title words ("two factor", "google docs") give a small
phrase bonus.

Deciding whether to suggest anything at all is the hard part, so every result has a
confidence between 0 and 1 instead of a raw BM25 number: the article's score divided by
the best score the query itself could reach. That maximum counts every content word of
the query, the ones the knowledge base has never seen included (a question full of
unknown words is probably about something else), and is kept between one and three
"rare words' worth" of evidence (the weight of a word found in a single article): a
one-word query about a common word cannot look certain, and a long message need not
match every word to be confident. Both ends are measured in the collection's own
units, so the same threshold holds for a small FAQ and for a large knowledge base.

Search cost grows with the postings of the query's words, not with the number of
articles: postings are numpy arrays, and words that could not lift an article over the
confidence cut on their own only add to articles that the other words already found.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from kb import text


@dataclass(frozen=True)
class Document:
    """What the index needs of an article."""

    id: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    url: str | None = None


@dataclass(frozen=True)
class Suggestion:
    """An article worth showing for a query; score is the confidence, 0..1."""

    id: str
    title: str
    score: float
    url: str | None = None


@dataclass(frozen=True)
class Tuning:
    """Scoring constants. The defaults were chosen on public FAQ data (see tests/bench/bench_kb.py)."""

    k1: float = 1.2
    title_weight: float = 3.0  # title and tags
    body_weight: float = 0.4
    title_b: float = 0.3
    body_b: float = 0.75
    phrase_weight: float = 0.5  # bonus for two adjacent query words that are adjacent in a title
    unknown_weight: float = 1.0  # an unknown query word weighs this times a word found in one article
    fuzzy_weight: float = 0.8  # a misspelt word's match counts this much
    min_evidence: float = 1.0  # the query's maximum score is kept in [min, max] rare words' worth
    max_evidence: float = 3.0
    threshold: float = 0.29  # the best result must reach this confidence, or nothing is suggested
    follow_ratio: float = 0.5  # further results need threshold * follow_ratio


DEFAULT_TUNING = Tuning()

_NO_DOCS = np.zeros(0, dtype=np.int32)


@dataclass
class _Query:
    """A query resolved against the vocabulary: term ids with their weights."""

    weights: dict[int, float] = field(default_factory=dict)  # term id -> weight in the score
    maximum: float = 0.0  # the query's own best possible score, before the evidence bounds


class KbIndex:
    """Immutable once built; build a new one when the articles change."""

    def __init__(self, documents: Iterable[Document], tuning: Tuning = DEFAULT_TUNING) -> None:
        self.tuning = tuning
        self._ids: list[str] = []
        self._titles: list[str] = []
        self._urls: list[str | None] = []
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        self._surface: dict[str, int] = {}  # a word as written -> its term id, for typo tolerance
        self._build(documents)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def vocabulary_size(self) -> int:
        return len(self._terms)

    def memory_bytes(self) -> int:
        """Approximate memory held by the index (arrays, vocabularies, titles)."""
        arrays = sum(a.nbytes for a in (self._indptr, self._docs, self._weights, self._idf, self._top))
        strings = sum(sys.getsizeof(s) for s in self._terms) + sum(sys.getsizeof(s) for s in self._surface)
        strings += sum(sys.getsizeof(s) for s in self._ids) + sum(sys.getsizeof(s) for s in self._titles)
        containers = sum(
            sys.getsizeof(c) for c in (self._vocab, self._terms, self._surface, self._ids, self._titles)
        )
        buckets = sum(sys.getsizeof(b) for b in self._buckets.values()) + sys.getsizeof(self._buckets)
        return arrays + strings + containers + buckets

    # -- building -------------------------------------------------------------------------------

    def _build(self, documents: Iterable[Document]) -> None:
        t = self.tuning
        post_doc, post_term = array("i"), array("i")
        post_title, post_body = array("f"), array("f")
        title_len, body_len = array("f"), array("f")
        vocab, terms_list, surface = self._vocab, self._terms, self._surface
        for doc in documents:
            number = len(self._ids)
            self._ids.append(doc.id)
            self._titles.append(doc.title)
            self._urls.append(doc.url)
            title_words, tag_words, body_words = text.tokens_of_fields(doc.title, " ".join(doc.tags), doc.body)
            language = text.detect_language(title_words + body_words)
            title_content = text.content_words(title_words)
            tag_content = text.content_words(tag_words)
            body_content = text.content_words(body_words)
            content = title_content + tag_content + body_content
            stemmed = text.stems(content, language)
            title_stems = stemmed[: len(title_content)]
            in_title = Counter(stemmed[: len(title_content) + len(tag_content)])
            in_title.update(f"{a} {b}" for a, b in pairwise(title_stems))
            in_body = Counter(stemmed[len(title_content) + len(tag_content) :])
            title_len.append(float(len(title_content) + len(tag_content)))
            body_len.append(float(len(body_content)))
            keys = [*in_title, *(k for k in in_body if k not in in_title)]  # a stable order
            tids = []
            for term in keys:
                tid = vocab.get(term)
                if tid is None:
                    tid = vocab[term] = len(terms_list)
                    terms_list.append(term)
                tids.append(tid)
            post_doc.extend([number] * len(keys))
            post_term.extend(tids)
            post_title.extend([in_title.get(k, 0) for k in keys])
            post_body.extend([in_body.get(k, 0) for k in keys])
            written = dict(zip(content, stemmed, strict=True))
            for word, term in written.items():
                if word not in surface:
                    surface[word] = vocab[term]

        n_docs = len(self._ids)
        n_terms = len(self._terms)
        docs = np.frombuffer(post_doc, dtype=np.int32)
        terms = np.frombuffer(post_term, dtype=np.int32)
        tl = np.frombuffer(title_len, dtype=np.float32)
        bl = np.frombuffer(body_len, dtype=np.float32)
        title_norm = 1 - t.title_b + t.title_b * tl / max(float(tl.mean()) if n_docs else 1.0, 1.0)
        body_norm = 1 - t.body_b + t.body_b * bl / max(float(bl.mean()) if n_docs else 1.0, 1.0)
        tf = (
            t.title_weight * np.frombuffer(post_title, dtype=np.float32) / title_norm[docs]
            + t.body_weight * np.frombuffer(post_body, dtype=np.float32) / body_norm[docs]
        )
        saturation = (tf / (t.k1 + tf)).astype(np.float32)
        order = np.argsort(terms, kind="stable")  # postings of a term stay in document order
        df = np.bincount(terms, minlength=n_terms)
        self._indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=self._indptr[1:])
        self._docs = np.ascontiguousarray(docs[order])
        self._weights = np.ascontiguousarray(saturation[order])
        self._idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        # The best saturation a term reaches in any article, to bound what it can add.
        # (every term has at least one posting, so the segments are never empty)
        self._top = np.zeros(n_terms, dtype=np.float32)
        if n_terms:
            self._top = np.maximum.reduceat(self._weights, self._indptr[:-1]).astype(np.float32)
        self._rare = math.log1p((n_docs - 0.5) / 1.5) if n_docs else 1.0
        self._buckets: dict[tuple[str, int], list[str]] = {}
        for word in self._surface:
            if len(word) >= _FUZZY_MIN_LENGTH and not _has_digit(word):
                self._buckets.setdefault((word[0], len(word)), []).append(word)

    # -- searching ------------------------------------------------------------------------------

    def search(self, query: str, limit: int = 5) -> list[Suggestion]:
        """The articles that answer the query, best first; [] when nothing is relevant enough."""
        if limit <= 0 or not self._ids:
            return []
        t = self.tuning
        resolved = self._resolve(query)
        if not resolved.weights:
            return []
        evidence = min(max(resolved.maximum / self._rare, t.min_evidence), t.max_evidence)
        full_marks = evidence * self._rare
        floor = t.threshold * t.follow_ratio * full_marks
        # Terms in ascending order of what they can add; a prefix that cannot reach the floor
        # together is only looked up for articles that the other terms find.
        bounded = sorted((w * float(self._top[tid]), tid, w) for tid, w in resolved.weights.items())
        total = sum(b for b, _, _ in bounded)
        if total < t.threshold * full_marks:
            return []
        split, prefix = 0, 0.0
        while split < len(bounded) and prefix + bounded[split][0] < floor:
            prefix += bounded[split][0]
            split += 1
        essential = bounded[split:]
        if not essential:
            return []
        ids = np.concatenate([self._postings(tid)[0] for _, tid, _ in essential])
        gains = np.concatenate([self._postings(tid)[1] * w for _, tid, w in essential])
        candidates, where = np.unique(ids, return_inverse=True)
        scores = np.bincount(where, weights=gains, minlength=len(candidates))
        for _, tid, w in bounded[:split]:
            docs, weights = self._postings(tid)
            at = np.searchsorted(docs, candidates)
            at[at == len(docs)] = 0
            found = docs[at] == candidates if len(docs) else np.zeros(len(candidates), dtype=bool)
            scores[found] += weights[at[found]] * w
        confidence = scores / full_marks
        keep = confidence >= t.threshold * t.follow_ratio
        if not keep.any() or confidence.max() < t.threshold:
            return []
        candidates, confidence = candidates[keep], confidence[keep]
        # Equal scores (to rounding) go in article order, so results never depend on summation order.
        confidence = np.round(confidence, 9)
        if len(candidates) > limit:
            kth = np.partition(confidence, len(confidence) - limit)[len(confidence) - limit]
            top = confidence >= kth  # the best `limit`, and any that tie with the last of them
            candidates, confidence = candidates[top], confidence[top]
        order = np.lexsort((candidates, -confidence))[:limit]
        return [
            Suggestion(
                id=self._ids[int(candidates[i])],
                title=self._titles[int(candidates[i])],
                score=round(min(float(confidence[i]), 1.0), 4),
                url=self._urls[int(candidates[i])],
            )
            for i in order
        ]

    def _postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self._indptr[tid]), int(self._indptr[tid + 1])
        return self._docs[start:end], self._weights[start:end]

    def _resolve(self, query: str) -> _Query:
        t = self.tuning
        words = text.tokens(text.strip_message(query[:MAX_QUERY_CHARS]))
        language = text.detect_language(words)
        other = text.other_language(language)
        resolved = _Query()
        previous: int | None = None
        looked_up: dict[str, tuple[int | None, float]] = {}
        for word in text.content_words(words)[:MAX_QUERY_WORDS]:
            first = word not in looked_up
            if first:
                looked_up[word] = self._lookup(word, language, other)
            tid, weight = looked_up[word]
            if first and tid is None:
                resolved.maximum += t.unknown_weight * self._rare
            elif first and tid is not None and tid not in resolved.weights:
                idf = float(self._idf[tid])
                resolved.maximum += idf
                resolved.weights[tid] = idf * weight
            if tid is not None and previous is not None:
                phrase = self._vocab.get(f"{self._terms[previous]} {self._terms[tid]}")
                if phrase is not None and phrase not in resolved.weights:
                    resolved.weights[phrase] = float(self._idf[phrase]) * t.phrase_weight
            previous = tid
        return resolved

    def _lookup(self, word: str, language: text.Language, other: text.Language) -> tuple[int | None, float]:
        """The term a query word stands for, and how much a match counts (less for a typo)."""
        for candidate in (text.stem(word, language), text.stem(word, other), word):
            tid = self._vocab.get(candidate)
            if tid is not None:
                return tid, 1.0
        tid = self._surface.get(word)
        if tid is not None:
            return tid, 1.0
        near = self._nearest(word)
        if near is None:
            return None, 0.0
        return near, self.tuning.fuzzy_weight

    def _nearest(self, word: str) -> int | None:
        """The closest known word within one edit (two for long words), by rapidfuzz."""
        if len(word) < _FUZZY_MIN_LENGTH or _has_digit(word):
            return None
        edits = 2 if len(word) >= _FUZZY_TWO_EDITS else 1
        best: tuple[int, int, str] | None = None
        for length in range(len(word) - edits, len(word) + edits + 1):
            bucket = self._buckets.get((word[0], length))
            if not bucket:
                continue
            found = process.extractOne(word, bucket, scorer=OSA.distance, score_cutoff=edits)
            if found is None:
                continue
            choice, distance, _ = found
            tid = self._surface[choice]
            df = int(self._indptr[tid + 1] - self._indptr[tid])
            key = (int(distance), -df, choice)
            if best is None or key < best:
                best = key
        return None if best is None else self._surface[best[2]]


# A pasted log or a whole e-mail thread is cut here: the start says what it is about.
MAX_QUERY_CHARS = 20_000
MAX_QUERY_WORDS = 200
_FUZZY_MIN_LENGTH = 5
_FUZZY_TWO_EDITS = 9


def _has_digit(word: str) -> bool:
    return any(c.isdigit() for c in word)
