"""Knowledge-base benchmark: suggestion quality and search speed, against bm25s in the same run.

    .venv/bin/python tests/bench/bench_kb.py [--quick] [--kbeval DIR] [--out FILE]

Quality, per kbeval set (../shared/kbeval, see its README): the articles are imported into
a temporary SQLite database through kb.service.import_paths, every query goes through
kb.service.search (limit 5), and so do the out-of-scope lines of oos.txt. The baseline is
bm25s (English stop words, PyStemmer, title + body) that answers only when its best score
is above a threshold: the one giving it the same out-of-scope rate on oos.txt as chatdesk
had (and, as the kbeval README states its figures, the one giving it 10 %). Both are tuned
on oos.txt itself, which favours the baseline; chatdesk's threshold is the fixed one in
kb/index.py (chosen on oos_val.txt, never on oos.txt).

Learning: the even-numbered queries of a set are fed in as solved tickets (each becomes an
alternate question of its expected article through kb.service.add_question); recall@5 on
the odd-numbered queries is measured before and after, with the out-of-scope rate after.

Speed: synthetic articles (words drawn from the real articles' word frequencies plus a
long tail of made-up words) are added to the real ones up to 10k and 100k articles; the
same queries run through kb.index.KbIndex (what kb.service searches) and through bm25s.

Prints one table per set and a latency table; writes everything to bench-results/kb.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import pickle
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kb import service, text  # noqa: E402
from kb.importer import ParsedArticle, collect, read_articles  # noqa: E402
from kb.index import DEFAULT_TUNING, Document, KbIndex  # noqa: E402
from storage import db  # noqa: E402

# The public FAQ sets sit beside the project (../shared/kbeval); KBEVAL=DIR points elsewhere.
DEFAULT_KBEVAL = Path(os.environ.get("KBEVAL") or ROOT.parent / "shared" / "kbeval")
SETS = ("stackfaq", "covidfaq")
TARGET_OOS = 0.10
LIMIT = 5


@dataclass
class Quality:
    recall_at_1: float
    recall_at_5: float
    mrr: float
    oos_rate: float
    oos_val_rate: float
    threshold: float

    def row(self) -> list[str]:
        return [f"{self.recall_at_1:.3f}", f"{self.recall_at_5:.3f}", f"{self.mrr:.3f}", f"{self.oos_rate:.1%}"]


def lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_queries(path: Path) -> list[tuple[str, set[str]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(" ".join(r["query"].split()), set(r["expected"])) for r in rows]


def quality(
    answers: Sequence[Sequence[str]], expected: Sequence[set[str]], oos: Sequence[bool], oos_val: Sequence[bool],
    threshold: float,
) -> Quality:
    r1 = r5 = rr = 0.0
    for ids, wanted in zip(answers, expected, strict=True):
        for rank, article in enumerate(ids[:LIMIT]):
            if article in wanted:
                r5 += 1
                r1 += rank == 0
                rr += 1 / (rank + 1)
                break
    n = len(expected) or 1
    return Quality(r1 / n, r5 / n, rr / n, sum(oos) / len(oos), sum(oos_val) / len(oos_val), threshold)


# -- chatdesk through the service ---------------------------------------------------------------


def recall_at_5(answers: Sequence[Sequence[str]], expected: Sequence[set[str]]) -> float:
    return sum(any(a in wanted for a in ids[:LIMIT]) for ids, wanted in zip(answers, expected, strict=True)) / max(
        len(expected), 1
    )


async def learning_run(queries: list[str], expected: list[set[str]]) -> dict[str, Any]:
    """Half the queries become solved tickets' questions; recall@5 on the other half, before and after."""
    taught = [(q, sorted(e)[0]) for q, e in zip(queries[::2], expected[::2], strict=True)]
    held_out, wanted = queries[1::2], expected[1::2]
    before = recall_at_5([[s.id for s in await service.search(q, LIMIT)] for q in held_out], wanted)
    started = time.perf_counter()
    for question, article in taught:
        await service.add_question(article, question, ticket_id=None, source="solved")
    await service.ready(force=True)
    update_seconds = time.perf_counter() - started
    after = recall_at_5([[s.id for s in await service.search(q, LIMIT)] for q in held_out], wanted)
    return {
        "taught": len(taught),
        "held_out": len(held_out),
        "recall_at_5_before": round(before, 4),
        "recall_at_5_after": round(after, 4),
        "update_seconds": round(update_seconds, 3),
    }


async def chatdesk_run(
    articles_dir: Path, queries: list[str], oos: list[str], oos_val: list[str], expected: list[set[str]]
) -> tuple[list[list[str]], list[bool], list[bool], list[float], dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/kb.sqlite3"
        await db.migrate(url)
        async with db.database(url):
            service.invalidate()
            started = time.perf_counter()
            report = await service.import_paths([articles_dir])
            import_seconds = time.perf_counter() - started
            started = time.perf_counter()
            service.invalidate()
            await service.ready()  # the index saved by the import, loaded as a restarted process would
            build_seconds = time.perf_counter() - started
            answers: list[list[str]] = []
            latencies: list[float] = []
            for query in queries:
                started = time.perf_counter()
                found = await service.search(query, LIMIT)
                latencies.append(time.perf_counter() - started)
                answers.append([s.id for s in found])
            oos_hits = [bool(await service.search(q, LIMIT)) for q in oos]
            val_hits = [bool(await service.search(q, LIMIT)) for q in oos_val]
            learning = await learning_run(queries, expected)
            learning["oos_rate_after"] = sum([bool(await service.search(q, LIMIT)) for q in oos]) / len(oos)
    info = {
        "learning": learning,
        "imported": len(report.imported),
        "skipped": [str(s) for s in report.skipped],
        "import_seconds": round(import_seconds, 3),
        "index_load_seconds": round(build_seconds, 3),
    }
    return answers, oos_hits, val_hits, latencies, info


# -- bm25s baseline ------------------------------------------------------------------------------


class Bm25sBaseline:
    """bm25s as the kbeval README describes it: English stop words, PyStemmer, title + body."""

    def __init__(self, titles: Sequence[str], bodies: Sequence[str]) -> None:
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("english")
        self.retriever = bm25s.BM25()
        corpus = [f"{t}\n{b}" for t, b in zip(titles, bodies, strict=True)]
        tokens = bm25s.tokenize(corpus, stopwords="en", stemmer=self.stemmer, show_progress=False)
        self.retriever.index(tokens, show_progress=False)

    def top(self, query: str, k: int = LIMIT) -> tuple[list[int], list[float]]:
        tokens = self._bm25s.tokenize(
            [query], stopwords="en", stemmer=self.stemmer, return_ids=False, show_progress=False
        )[0]
        ids = self.retriever.get_tokens_ids(tokens)
        if not ids:
            return [], []
        scores = self.retriever.get_scores_from_ids(ids)
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [int(i) for i in best], [float(scores[i]) for i in best]

    def memory_bytes(self) -> int:
        arrays = self.retriever.scores
        return sum(a.nbytes for a in arrays.values() if isinstance(a, np.ndarray))


def bm25s_run(
    articles: list[ParsedArticle], queries: list[str], oos: list[str], oos_val: list[str], target_oos: float
) -> dict[str, Any]:
    baseline = Bm25sBaseline([a.title for a in articles], [a.body for a in articles])
    ids = [a.article_id for a in articles]
    latencies: list[float] = []
    ranked: list[tuple[list[int], list[float]]] = []
    for query in queries:
        started = time.perf_counter()
        ranked.append(baseline.top(query))
        latencies.append(time.perf_counter() - started)
    oos_best = [(baseline.top(q)[1] or [0.0])[0] for q in oos]
    val_best = [(baseline.top(q)[1] or [0.0])[0] for q in oos_val]
    ordered = sorted(oos_best)

    def cut_for(rate: float) -> float:  # answers only strictly above it
        return ordered[max(round(len(ordered) * (1 - rate)) - 1, 0)]

    threshold = cut_for(TARGET_OOS)
    same = cut_for(target_oos)

    def answers(cut: float | None) -> list[list[str]]:
        return [
            [ids[i] for i in docs] if scores and (cut is None or scores[0] > cut) else []
            for docs, scores in ranked
        ]

    return {
        "tuned": (answers(threshold), [s > threshold for s in oos_best], [s > threshold for s in val_best], threshold),
        "same": (answers(same), [s > same for s in oos_best], [s > same for s in val_best], same),
        "always": (answers(None), [s > 0 for s in oos_best], [s > 0 for s in val_best], 0.0),
        "latencies": latencies,
    }


# -- synthetic scale ------------------------------------------------------------------------------


def synthetic(real: list[Document], count: int, seed: int = 7) -> list[Document]:
    """count articles whose words follow the real articles' word frequencies, plus a long tail."""
    rng = np.random.default_rng(seed)
    frequencies = Counter(w for d in real for w in text.tokens(f"{d.title} {d.body}"))
    words = np.array(list(frequencies))
    p = np.array([frequencies[w] for w in words], dtype=float)
    p /= p.sum()
    letters = list("abdefghijklmnoprstuvy")
    tail = np.array(["".join(rng.choice(letters, size=int(rng.integers(5, 11)))) for _ in range(2 * count)])
    tail_p = 1.0 / np.arange(1, len(tail) + 1)
    tail_p /= tail_p.sum()
    docs = []
    for n in range(count):
        title = " ".join(words[rng.choice(len(words), 7, p=p)])
        body = " ".join(
            list(words[rng.choice(len(words), 110, p=p)]) + list(tail[rng.choice(len(tail), 15, p=tail_p)])
        )
        docs.append(Document(id=f"synthetic-{n}", title=title, body=body))
    return docs


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def timed(search: Callable[[str], object], queries: Sequence[str]) -> dict[str, float]:
    for query in queries[:20]:
        search(query)
    latencies = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        latencies.append(time.perf_counter() - started)
    return percentiles(latencies)


_LOAD_AND_MEASURE = """
import gc, os, pickle, sys
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
import kb.index, kb.text, numpy, rapidfuzz
gc.collect(); before = rss()
index = pickle.load(open(sys.argv[1], "rb"))
index.search("warm up the stemmers and caches")
gc.collect(); print(rss() - before)
"""


def loaded_process_rss(saved: bytes) -> int:
    """Memory a server holds for the index: a fresh process that loads the saved file, as at a restart."""
    import subprocess

    with tempfile.NamedTemporaryFile(suffix=".kbindex") as file:
        file.write(saved)
        file.flush()
        out = subprocess.run(
            [sys.executable, "-c", _LOAD_AND_MEASURE, file.name], capture_output=True, text=True, check=True,
            cwd=ROOT,
        )
    return int(out.stdout.strip().splitlines()[-1])


def scale_run(real: list[Document], total: int, queries: list[str]) -> dict[str, Any]:
    docs = real + synthetic(real, total - len(real))
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    index = KbIndex(docs)
    build = time.perf_counter() - started
    gc.collect()
    rss = rss_bytes() - before
    ours = timed(index.search, queries)
    started = time.perf_counter()
    saved = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)  # what kb.service writes to its file
    save_seconds = time.perf_counter() - started
    started = time.perf_counter()
    loaded = pickle.loads(saved)
    load_seconds = time.perf_counter() - started
    assert [s.id for s in loaded.search(queries[0])] == [s.id for s in index.search(queries[0])]
    del loaded
    loaded_rss = loaded_process_rss(saved)
    changed = [Document(d.id, d.title + " updated", d.body, d.tags, d.url) for d in docs[-10:]]
    started = time.perf_counter()
    index.with_documents(changed)  # an import of ten changed articles
    update_seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline = Bm25sBaseline([d.title for d in docs], [d.body for d in docs])
    bm25s_build = time.perf_counter() - started
    theirs = timed(baseline.top, queries)
    result = {
        "articles": len(docs),
        "vocabulary": index.vocabulary_size,
        "build_seconds": round(build, 2),
        "index_bytes": index.memory_bytes(),
        "rss_growth_bytes": rss,
        "saved_bytes": len(saved),
        "loaded_process_rss_growth_bytes": loaded_rss,
        "save_seconds": round(save_seconds, 2),
        "load_seconds": round(load_seconds, 2),
        "update_10_seconds": round(update_seconds, 3),
        "chatdesk": ours,
        "bm25s": theirs,
        "bm25s_build_seconds": round(bm25s_build, 2),
        "bm25s_index_bytes": baseline.memory_bytes(),
    }
    del index, baseline
    gc.collect()
    return result


# -- output -------------------------------------------------------------------------------------------


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries, 10k articles only (about a minute)")
    parser.add_argument("--kbeval", type=Path, default=DEFAULT_KBEVAL)
    parser.add_argument("--sizes", default=None, help="comma-separated article counts for the speed part "
                        "(default 10000,100000; 10000 with --quick; 0 skips it)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "kb.json")
    args = parser.parse_args()
    kbeval: Path = args.kbeval
    if not (kbeval / "oos.txt").is_file():
        # The FAQ sets are not part of the repository: without them the other benchmarks still run.
        print(f"bench_kb: skipped, kbeval data not found in {kbeval} (KBEVAL=DIR make bench, or --kbeval DIR)",
              file=sys.stderr)
        return 0
    oos = [" ".join(q.split()) for q in lines(kbeval / "oos.txt")]
    oos_val = [" ".join(q.split()) for q in lines(kbeval / "oos_val.txt")]
    results: dict[str, Any] = {
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "chatdesk_threshold": DEFAULT_TUNING.threshold,
        "sets": {},
    }
    real_docs: list[Document] = []
    all_queries: list[str] = []
    for name in SETS:
        queries = load_queries(kbeval / name / "queries.jsonl")
        if args.quick:
            queries = queries[::4]
        texts = [q for q, _ in queries]
        expected = [e for _, e in queries]
        articles, _ = read_articles(collect([kbeval / name / "articles"]))
        real_docs += [Document(a.article_id, a.title, a.body, a.tags, a.url) for a in articles]
        all_queries += texts
        answers, oos_hits, val_hits, ours_lat, info = asyncio.run(
            chatdesk_run(kbeval / name / "articles", texts, oos, oos_val, expected)
        )
        ours = quality(answers, expected, oos_hits, val_hits, DEFAULT_TUNING.threshold)
        base = bm25s_run(articles, texts, oos, oos_val, ours.oos_rate)
        tuned = quality(base["tuned"][0], expected, base["tuned"][1], base["tuned"][2], base["tuned"][3])
        same = quality(base["same"][0], expected, base["same"][1], base["same"][2], base["same"][3])
        always = quality(base["always"][0], expected, base["always"][1], base["always"][2], 0.0)
        ours_p, theirs_p = percentiles(ours_lat), percentiles(base["latencies"])
        table(
            f"{name}: {len(articles)} articles, {len(texts)} queries, {len(oos)} out-of-scope lines",
            ["system", "recall@1", "recall@5", "MRR", "OOS rate", "oos_val", "threshold", "p95 ms"],
            [
                ["chatdesk", *ours.row(), f"{ours.oos_val_rate:.0%}", f"{ours.threshold:.3f}", f"{ours_p['p95_ms']}"],
                ["bm25s (same OOS rate)", *same.row(), f"{same.oos_val_rate:.0%}", f"{same.threshold:.3f}",
                 f"{theirs_p['p95_ms']}"],
                ["bm25s (10 % OOS)", *tuned.row(), f"{tuned.oos_val_rate:.0%}", f"{tuned.threshold:.3f}", ""],
                ["bm25s (always top 5)", *always.row(), f"{always.oos_val_rate:.0%}", "-", ""],
            ],
        )
        learning = info["learning"]
        print(
            f"recall@5 vs bm25s at the same OOS rate: {ours.recall_at_5 / max(same.recall_at_5, 1e-9):.2f}x; "
            f"learning: {learning['taught']} queries taught, recall@5 on the other {learning['held_out']} "
            f"{learning['recall_at_5_before']:.3f} -> {learning['recall_at_5_after']:.3f} "
            f"(OOS rate after {learning['oos_rate_after']:.1%})"
        )
        results["sets"][name] = {
            "articles": len(articles),
            "queries": len(texts),
            "chatdesk": {**vars(ours), "latency": ours_p, **info},
            "bm25s_same_oos": {**vars(same), "latency": theirs_p},
            "bm25s_tuned": vars(tuned),
            "bm25s_always": vars(always),
        }
    scale_queries = all_queries + oos
    if args.quick:
        scale_queries = scale_queries[::2]
    sizes = [10_000] if args.quick else [10_000, 100_000]
    if args.sizes is not None:
        sizes = [int(n) for n in args.sizes.split(",") if int(n) > 0]
    rows = []
    results["scale"] = []
    for size in sizes:
        run = scale_run(real_docs, size, scale_queries)
        results["scale"].append(run)
        ours, theirs = run["chatdesk"], run["bm25s"]
        rows.append([
            f"{run['articles']:,}",
            f"{ours['p50_ms']:.2f}", f"{ours['p95_ms']:.2f}", f"{ours['max_ms']:.1f}",
            f"{theirs['p50_ms']:.2f}", f"{theirs['p95_ms']:.2f}",
            f"{ours['p95_ms'] / theirs['p95_ms']:.2f}",
            f"{run['build_seconds']:.1f}", f"{run['load_seconds']:.2f}", f"{run['update_10_seconds']:.2f}",
            f"{run['index_bytes'] / 2**20:.0f} / {run['rss_growth_bytes'] / 2**20:.0f} / "
            f"{run['loaded_process_rss_growth_bytes'] / 2**20:.0f}",
            f"{run['bm25s_index_bytes'] / 2**20:.0f}",
        ])
    table(
        f"search latency, {len(scale_queries)} queries (stackfaq + covidfaq + oos), limit {LIMIT}",
        ["articles", "p50", "p95", "max", "bm25s p50", "bm25s p95", "p95 ratio", "build s", "load s", "update 10 s",
         "index MB (est / RSS after build / RSS loaded)", "bm25s MB"],
        rows,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
