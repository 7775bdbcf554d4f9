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
    """What the index needs of an article; questions are alternate wordings learnt from tickets."""

    id: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    url: str | None = None
    questions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suggestion:
    """An article worth showing for a query; score is the confidence, 0..1.

    matched lists the query's words (as the query wrote them) that the article contains.
    """

    id: str
    title: str
    score: float
    url: str | None = None
    matched: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tuning:
    """Scoring constants. The defaults were chosen on public FAQ data (see tests/bench/bench_kb.py)."""

    k1: float = 1.2
    title_weight: float = 3.0  # title and tags
    question_weight: float = 1.5  # alternate questions: below the title, above the body
    body_weight: float = 0.4
    title_b: float = 0.3
    question_b: float = 0.8  # many learnt questions: a word counts by the share of them that use it
    question_length: float = 1.0
    body_b: float = 0.75
    phrase_weight: float = 0.5  # bonus for two adjacent query words that are adjacent in a title
    unknown_weight: float = 1.0  # an unknown query word weighs this times a word found in one article
    fuzzy_weight: float = 0.8  # a misspelt word's match counts this much
    min_evidence: float = 1.0  # the query's maximum score is kept in [min, max] rare words' worth
    max_evidence: float = 3.0
    threshold: float = 0.29  # the best result must reach this confidence, or nothing is suggested
    follow_ratio: float = 0.5  # further results need threshold * follow_ratio
    full_vocabulary: int = 500  # a knowledge base knowing fewer terms counts unknown words for less


DEFAULT_TUNING = Tuning()

_NO_DOCS = np.zeros(0, dtype=np.int32)


@dataclass
class _Query:
    """A query resolved against the vocabulary: term ids with their weights."""

    weights: dict[int, float] = field(default_factory=dict)  # term id -> weight in the score
    maximum: float = 0.0  # the query's own best possible score, before the evidence bounds
    words: dict[int, list[str]] = field(default_factory=dict)  # term id -> the query's words for it


class _Buffers:
    """Postings of articles being added, in compact arrays (a Python list per article would take
    ten times the memory of the finished index at 100k articles)."""

    def __init__(self) -> None:
        self.doc, self.term = array("i"), array("i")
        self.title, self.body, self.questions = array("f"), array("f"), array("f")
        self.title_len, self.body_len, self.question_count = array("f"), array("f"), array("f")
        self.first: int | None = None  # the slot of the first article added

    def __len__(self) -> int:
        return len(self.title_len)


class KbIndex:
    """Immutable once built: with_documents() returns a new index and leaves this one intact,
    so a search running on the old one is never disturbed by an import (an atomic swap)."""

    def __init__(self, documents: Iterable[Document] = (), tuning: Tuning = DEFAULT_TUNING) -> None:
        self.tuning = tuning
        self._ids: list[str] = []
        self._titles: list[str | None] = []  # None: a slot whose article was re-indexed elsewhere
        self._urls: list[str | None] = []
        self._slots: dict[str, int] = {}  # article id -> its live slot
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        self._surface: dict[str, int] = {}  # a word as written -> its term id, for typo tolerance
        self._buckets: dict[tuple[str, int], list[str]] = {}
        self.stamp: object = None  # what the owner knows about the source this was built from
        buffers = _Buffers()
        for doc in documents:
            self._analyse(doc, buffers)
        if len(buffers):
            self._avg_title = max(float(np.frombuffer(buffers.title_len, dtype=np.float32).mean()), 1.0)
            self._avg_body = max(float(np.frombuffer(buffers.body_len, dtype=np.float32).mean()), 1.0)
        else:
            self._avg_title = self._avg_body = 1.0
        self.built_size = len(buffers)  # articles at the last full build (averages are frozen there)
        self._indptr = np.zeros(1, dtype=np.int64)
        self._docs = _NO_DOCS
        self._weights = np.zeros(0, dtype=np.float32)
        self._finish(*self._postings_of(buffers))

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def vocabulary_size(self) -> int:
        return len(self._terms)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._slots

    def memory_bytes(self) -> int:
        """Approximate memory held by the index (arrays, vocabularies, titles)."""
        arrays = sum(a.nbytes for a in (self._indptr, self._docs, self._weights, self._idf, self._top))
        seen: set[int] = set()
        strings = 0
        for collection in (self._terms, self._surface, self._ids, self._titles, self._slots):
            for s in collection:
                if s is not None and id(s) not in seen:
                    seen.add(id(s))
                    strings += sys.getsizeof(s)
        containers = sum(
            sys.getsizeof(c)
            for c in (self._vocab, self._terms, self._surface, self._ids, self._titles, self._urls, self._slots)
        )
        buckets = sum(sys.getsizeof(b) for b in self._buckets.values()) + sys.getsizeof(self._buckets)
        return arrays + strings + containers + buckets

    # -- building -------------------------------------------------------------------------------

    def _analyse(self, doc: Document, out: _Buffers) -> None:
        """Words of one article, added to the vocabularies; the article takes the next slot."""
        number = len(self._ids)
        self._ids.append(doc.id)
        self._titles.append(doc.title)
        self._urls.append(doc.url)
        old = self._slots.get(doc.id)
        if old is not None:
            self._titles[old] = None
        self._slots[doc.id] = number
        questions = [q for q in doc.questions if q.strip()]
        fields = text.tokens_of_fields(doc.title, " ".join(doc.tags), doc.body, *questions)
        title_words, tag_words, body_words = fields[0], fields[1], fields[2]
        language = text.detect_language(title_words + body_words)
        title_content = text.content_words(title_words)
        tag_content = text.content_words(tag_words)
        body_content = text.content_words(body_words)
        asked = [text.content_words(words) for words in fields[3:]]
        content = title_content + tag_content + body_content
        stemmed = text.terms(content, language)
        title_stems = stemmed[: len(title_content)]
        in_title = Counter(stemmed[: len(title_content) + len(tag_content)])
        in_title.update(f"{a} {b}" for a, b in pairwise(title_stems))
        in_body = Counter(stemmed[len(title_content) + len(tag_content) :])
        in_questions: Counter[str] = Counter()
        question_words: list[str] = []
        for words in asked:
            question_language = text.detect_language(words) if words else language
            question_terms = text.terms(words, question_language)
            in_questions.update(set(question_terms))
            question_words += words
            content += words
            stemmed += question_terms
        keys = list(dict.fromkeys([*in_title, *in_body, *in_questions]))  # a stable order
        vocab, terms_list, surface = self._vocab, self._terms, self._surface
        tids = []
        for term in keys:
            tid = vocab.get(term)
            if tid is None:
                tid = vocab[term] = len(terms_list)
                terms_list.append(term)
            tids.append(tid)
        for word, term in zip(content, stemmed, strict=True):
            if word not in surface:
                tid = vocab[term]
                word = terms_list[tid] if word == term else word  # one string object, not two equal ones
                surface[word] = tid
                if len(word) >= _FUZZY_MIN_LENGTH and not _has_digit(word):
                    self._buckets.setdefault((word[0], len(word)), []).append(word)
        if out.first is None:
            out.first = number
        out.doc.extend([number] * len(tids))
        out.term.extend(tids)
        out.title.extend([in_title.get(k, 0) for k in keys])
        out.body.extend([in_body.get(k, 0) for k in keys])
        out.questions.extend([in_questions.get(k, 0) for k in keys])
        out.title_len.append(len(title_content) + len(tag_content))
        out.body_len.append(len(body_content))
        out.question_count.append(len(asked))

    def _postings_of(self, out: _Buffers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(term, doc, weight) of new postings, sorted by term then doc."""
        t = self.tuning
        if not len(out.doc):
            return _NO_DOCS, _NO_DOCS, np.zeros(0, dtype=np.float32)
        docs = np.frombuffer(out.doc, dtype=np.int32)
        terms = np.frombuffer(out.term, dtype=np.int32)
        local = docs - (out.first or 0)
        title_len = np.frombuffer(out.title_len, dtype=np.float32)[local]
        body_len = np.frombuffer(out.body_len, dtype=np.float32)[local]
        asked = np.frombuffer(out.question_count, dtype=np.float32)[local]
        norm_title = 1 - t.title_b + t.title_b * title_len / self._avg_title
        norm_body = 1 - t.body_b + t.body_b * body_len / self._avg_body
        # A fixed reference, not the collection's average: questions arrive one at a time, and an
        # incremental update must score them as a fresh build would.
        norm_questions = np.where(asked > 0, 1 - t.question_b + t.question_b * asked / t.question_length, 1.0)
        tf = (
            t.title_weight * np.frombuffer(out.title, dtype=np.float32) / norm_title
            + t.body_weight * np.frombuffer(out.body, dtype=np.float32) / norm_body
            + t.question_weight * np.frombuffer(out.questions, dtype=np.float32) / norm_questions
        )
        weights = (tf / (t.k1 + tf)).astype(np.float32)
        order = np.argsort(terms, kind="stable")  # postings of a term stay in document order
        return terms[order], docs[order], weights[order]

    def _finish(self, terms: np.ndarray, docs: np.ndarray, weights: np.ndarray) -> None:
        """Merge new postings (docs above every existing slot) into the CSR arrays."""
        n_terms = len(self._terms)
        old_df = np.diff(self._indptr)
        old_df = np.concatenate([old_df, np.zeros(n_terms - len(old_df), dtype=np.int64)])
        if len(self._docs):
            alive = np.array([title is not None for title in self._titles], dtype=bool)
            keep = alive[self._docs]
            if not keep.all():
                old_terms = np.repeat(np.arange(len(old_df), dtype=np.int32), old_df)
                old_df = np.bincount(old_terms[keep], minlength=n_terms).astype(np.int64)
                self._docs, self._weights = self._docs[keep], self._weights[keep]
        old_indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(old_df, out=old_indptr[1:])
        if len(terms):
            at = old_indptr[terms + 1]  # new postings go after the term's existing ones
            self._docs = np.insert(self._docs, at, docs)
            self._weights = np.insert(self._weights, at, weights)
        df = old_df + np.bincount(terms, minlength=n_terms)
        self._indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=self._indptr[1:])
        self._docs = np.ascontiguousarray(self._docs, dtype=np.int32)
        self._weights = np.ascontiguousarray(self._weights, dtype=np.float32)
        n_docs = len(self._slots)
        self._idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        # The best saturation a term reaches in any article, to bound what it can add.
        self._top = np.zeros(n_terms, dtype=np.float32)
        present = df > 0
        if present.any():
            starts = self._indptr[:-1][present]
            self._top[present] = np.maximum.reduceat(self._weights, starts).astype(np.float32)
        self._rare = math.log1p((n_docs - 0.5) / 1.5) if n_docs else 1.0
        # A word a four-article knowledge base has never seen says little: most words are new to it.
        # An unknown word counts fully only once the knowledge base knows a few hundred terms.
        known = int(np.count_nonzero(present))
        self._unknown = self._rare * min(1.0, math.sqrt(known / max(self.tuning.full_vocabulary, 1)))

    def with_documents(self, documents: Iterable[Document]) -> KbIndex:
        """A new index with these articles added, or replacing the ones with the same id.

        Only the given articles are analysed; the others' postings are reused as they are
        (their length normalisation stays the one of the last full build, so build a fresh
        index now and then: `needs_rebuild`).
        """
        new = KbIndex.__new__(KbIndex)
        new.tuning = self.tuning
        new._ids, new._titles, new._urls = list(self._ids), list(self._titles), list(self._urls)
        new._slots, new._vocab, new._terms = dict(self._slots), dict(self._vocab), list(self._terms)
        new._surface = dict(self._surface)
        new._buckets = {key: list(words) for key, words in self._buckets.items()}
        new._avg_title, new._avg_body = self._avg_title, self._avg_body
        new.built_size = self.built_size
        new.stamp = self.stamp
        new._indptr, new._docs, new._weights = self._indptr, self._docs, self._weights
        buffers = _Buffers()
        for doc in documents:
            new._analyse(doc, buffers)
        new._finish(*new._postings_of(buffers))
        return new

    @property
    def needs_rebuild(self) -> bool:
        """True once incremental updates have moved far from the last full build."""
        return len(self._ids) > 1.25 * max(self.built_size, 8)

    # -- searching ------------------------------------------------------------------------------

    def search(self, query: str, limit: int = 5) -> list[Suggestion]:
        """The articles that answer the query, best first; [] when nothing is relevant enough."""
        if limit <= 0 or not self._slots:
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
            found, at = self._contains(tid, candidates)
            scores[found] += self._weights[int(self._indptr[tid]) + at[found]] * w
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
        chosen = candidates[order]
        matched = self._matched(resolved, chosen)
        return [
            Suggestion(
                id=self._ids[int(number)],
                title=self._titles[int(number)] or "",
                score=round(min(float(confidence[i]), 1.0), 4),
                url=self._urls[int(number)],
                matched=words,
            )
            for i, number, words in zip(order, chosen, matched, strict=True)
        ]

    def _postings(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self._indptr[tid]), int(self._indptr[tid + 1])
        return self._docs[start:end], self._weights[start:end]

    def _contains(self, tid: int, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of the (sorted) article numbers have the term, and where in its postings."""
        docs, _ = self._postings(tid)
        if not len(docs):
            return np.zeros(len(numbers), dtype=bool), np.zeros(len(numbers), dtype=np.int64)
        at = np.searchsorted(docs, numbers)
        at[at == len(docs)] = 0
        return docs[at] == numbers, at

    def _matched(self, resolved: _Query, numbers: np.ndarray) -> list[tuple[str, ...]]:
        """For each chosen article, the query's words whose term it contains, in query order."""
        found = {tid: self._contains(tid, np.sort(numbers)) for tid in resolved.words}
        ordered = np.sort(numbers)
        out = []
        for number in numbers:
            position = int(np.searchsorted(ordered, number))
            words: list[str] = []
            for tid, query_words in resolved.words.items():
                if found[tid][0][position]:
                    words += [w for w in query_words if w not in words]
            out.append(tuple(words))
        return out

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
                part = self._compound_part(word, language, other)
                if part is not None and part not in resolved.weights:
                    # "salasananvaihto": the known part counts as a word, the rest as an unknown one
                    idf = float(self._idf[part])
                    resolved.maximum += idf + t.unknown_weight * self._unknown
                    resolved.weights[part] = idf
                    resolved.words.setdefault(part, []).append(word)
                    previous = part
                    continue
                resolved.maximum += t.unknown_weight * self._unknown
            elif first and tid is not None and tid not in resolved.weights:
                idf = float(self._idf[tid])
                resolved.maximum += idf
                resolved.weights[tid] = idf * weight
            if tid is not None:
                written = resolved.words.setdefault(tid, [])
                if word not in written:
                    written.append(word)
            if tid is not None and previous is not None:
                phrase = self._vocab.get(f"{self._terms[previous]} {self._terms[tid]}")
                if phrase is not None and phrase not in resolved.weights:
                    resolved.weights[phrase] = float(self._idf[phrase]) * t.phrase_weight
            previous = tid
        return resolved

    def _lookup(self, word: str, language: text.Language, other: text.Language) -> tuple[int | None, float]:
        """The term a query word stands for, and how much a match counts (less for a typo)."""
        for candidate in (text.term(word, language), text.term(word, other), word):
            tid = self._vocab.get(candidate)
            if tid is not None and self._indptr[tid + 1] > self._indptr[tid]:
                return tid, 1.0
        tid = self._surface.get(word)
        if tid is not None and self._indptr[tid + 1] > self._indptr[tid]:
            return tid, 1.0
        near = self._nearest(word)
        if near is None:
            return None, 0.0
        return near, self.tuning.fuzzy_weight

    def _compound_part(self, word: str, language: text.Language, other: text.Language) -> int | None:
        """The known word that an unknown compound starts or ends with ("sähköposti|osoite")."""
        if len(word) < _COMPOUND_MIN_LENGTH or _has_digit(word):
            return None
        for size in range(len(word) - _COMPOUND_MIN_REST, _COMPOUND_MIN_PART - 1, -1):
            for piece in (word[:size], word[-size:]):
                for candidate in (text.term(piece, language), text.term(piece, other)):
                    tid = self._vocab.get(candidate)
                    if tid is not None and self._indptr[tid + 1] > self._indptr[tid]:
                        return tid
        return None

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
            if df == 0:
                continue
            key = (int(distance), -df, choice)
            if best is None or key < best:
                best = key
        return None if best is None else self._surface[best[2]]


# A pasted log or a whole e-mail thread is cut here: the start says what it is about.
MAX_QUERY_CHARS = 20_000
MAX_QUERY_WORDS = 200
_FUZZY_MIN_LENGTH = 5
_COMPOUND_MIN_LENGTH = 9  # shorter unknown words are not split
_COMPOUND_MIN_PART = 5  # the known part of a compound
_COMPOUND_MIN_REST = 3
_FUZZY_TWO_EDITS = 9


def _has_digit(word: str) -> bool:
    return any(c.isdigit() for c in word)
