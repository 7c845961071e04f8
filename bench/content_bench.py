"""Content benchmark: bulk ingest into all four models, HNSW search vs an exact scan, the document page.

    STRATA_DB_NAME=strata_bench python bench/content_bench.py [--docs 50000] [--vectors 100000]

Creates its own workspace (and its own user) in the database named by STRATA_DB_NAME (migrated
on start; default ``strata_bench``: never point it at real data), then:

1. ingests ``--docs`` generated documents through ``content.services.document_ingest(embed=True)``
   in batches (row + chunks with full-text vectors, JSON body, chunk embeddings with the hashing
   embedder, graph node -- all four models, one transaction per batch), and ``--single`` more
   one call per document, and compares the rates;
2. tops the workspace's vector collection up to ``--vectors`` vectors with ``VectorStore.upsert``
   (embeddings of more generated texts), then runs ``--queries`` realistic queries (half
   embeddings of held-out generated texts, half perturbed stored vectors) through
   ``VectorStore.search`` (HNSW) and through an exact numpy scan of the same vectors: recall@10
   and latency;
3. times ``content.selectors.document_with_context`` uncached and cached (Redis).

Prints the measured numbers and PASS/FAIL per target, then deletes everything it created.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("STRATA_DB_NAME", "strata_bench")
os.environ.setdefault("STRATA_EMBEDDING_PROVIDER", "hashing")

import django  # noqa: E402

from bench.common import ms, percentile, time_calls, timed, verdict  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402

from content import caching, selectors, services, stores  # noqa: E402
from content.embeddings import get_embedder  # noqa: E402
from content.models import Chunk, Document  # noqa: E402
from core import services as core_services  # noqa: E402
from core.models import OutboxEvent, Workspace  # noqa: E402
from core.storage.ports import NodeRef, VectorItem  # noqa: E402

TARGET_DOCS_PER_SECOND = 1_000
TARGET_BULK_SPEEDUP = 10.0
TARGET_RECALL = 0.95
TARGET_P50_MS = 5.0
TARGET_SEARCH_SPEEDUP = 50.0
K = 10

# ---------------------------------------------------------------- generated corpus


class Corpus:
    """Documents about ``topics`` topics: each mixes common words (Zipf) with its topic's words,
    so documents of a topic are similar to each other and a held-out text has near neighbours."""

    def __init__(self, seed: int, *, vocabulary: int = 20_000, topics: int = 300) -> None:
        self.rng = np.random.default_rng(seed)
        syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
        words: set[str] = set()
        while len(words) < vocabulary:
            n = int(self.rng.integers(2, 5))
            words.add("".join(self.rng.choice(syllables, n)))
        self.words = np.array(sorted(words))
        ranks = np.arange(1, vocabulary + 1)
        self.common = (1.0 / ranks) / (1.0 / ranks).sum()
        self.topics = [self.rng.choice(vocabulary, 40, replace=False) for _ in range(topics)]

    def text(self, topic: int, n_words: int) -> str:
        common = self.rng.choice(len(self.words), n_words, p=self.common)
        topical = self.rng.choice(self.topics[topic], n_words)
        picks = np.where(self.rng.random(n_words) < 0.35, topical, common)
        words = self.words[picks]
        sentences, start = [], 0
        while start < n_words:
            length = int(self.rng.integers(8, 18))
            chunk = words[start : start + length]
            sentences.append(" ".join(chunk).capitalize() + ".")
            start += length
        return " ".join(sentences)

    def items(self, prefix: str, count: int, *, words: tuple[int, int] = (80, 140)) -> list[services.IngestItem]:
        out = []
        for i in range(count):
            topic = int(self.rng.integers(len(self.topics)))
            n_words = int(self.rng.integers(*words))
            out.append(
                services.IngestItem(
                    external_id=f"{prefix}-{i}",
                    title=f"{prefix} {i} on topic {topic}",
                    text=self.text(topic, n_words),
                    metadata={"topic": topic, "lang": "en" if i % 3 else "de", "year": 2000 + i % 25},
                )
            )
        return out


# ---------------------------------------------------------------- helpers


def load_collection(name: str) -> tuple[list[str], np.ndarray]:
    """Every (key, vector) of a collection, for the exact-scan baseline and the ground truth.

    The bench reads the adapter's table once over a separate connection (binary transfer):
    the VectorStore port has no bulk read, and a bulk read is no app's business."""
    params = connection.get_connection_params()
    conninfo = {k: params[k] for k in ("dbname", "user", "host", "port", "password") if params.get(k)}
    with psycopg.connect(**conninfo) as conn:
        register_vector(conn)
        with conn.cursor(binary=True) as cursor:
            cursor.execute(
                "SELECT v.key, v.embedding FROM strata_vector v "
                "JOIN strata_vector_collection c ON c.id = v.collection_id WHERE c.name = %s ORDER BY v.id",
                [name],
            )
            keys, rows = [], []
            for key, vector in cursor:
                keys.append(key)
                rows.append(vector.to_numpy() if hasattr(vector, "to_numpy") else vector)
    return keys, np.vstack(rows).astype(np.float32)


def exact_top_k(matrix: np.ndarray, query: np.ndarray, k: int = K) -> np.ndarray:
    scores = matrix @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


# ---------------------------------------------------------------- the stages


def bench_ingest(workspace_id: int, corpus: Corpus, args: argparse.Namespace, results: list) -> None:
    print(f"\n1. ingest through services.document_ingest(embed=True) [{get_embedder().model}]")
    items = corpus.items("bulk", args.docs)
    n_chunks_before = Chunk.objects.filter(workspace_id=workspace_id).count()
    started = time.perf_counter()
    for start in range(0, len(items), args.batch):
        report = services.document_ingest(
            workspace_id=workspace_id, items=items[start : start + args.batch], embed=True
        )
        assert not report.failed, report.failed[:3]
    bulk_seconds = time.perf_counter() - started
    bulk_rate = len(items) / bulk_seconds
    chunks = Chunk.objects.filter(workspace_id=workspace_id).count() - n_chunks_before
    print(
        f"   bulk:    {len(items):>7,} docs ({chunks:,} chunks) in batches of {args.batch}: "
        f"{bulk_seconds:7.1f} s = {bulk_rate:8,.0f} docs/s"
    )

    singles = corpus.items("single", args.single)
    started = time.perf_counter()
    for item in singles:
        report = services.document_ingest(workspace_id=workspace_id, items=[item], embed=True)
        assert not report.failed, report.failed
    single_seconds = time.perf_counter() - started
    single_rate = len(singles) / single_seconds
    print(f"   one by one: {len(singles):>7,} docs: {single_seconds:7.1f} s = {single_rate:8,.0f} docs/s")
    ratio = bulk_rate / single_rate
    print(f"   bulk / one-by-one: x{ratio:.1f}")
    results.append(
        (f"bulk ingest >= {TARGET_DOCS_PER_SECOND:,} docs/s into all four models", bulk_rate >= TARGET_DOCS_PER_SECOND)
    )
    results.append((f"bulk ingest >= {TARGET_BULK_SPEEDUP:.0f}x one-by-one", ratio >= TARGET_BULK_SPEEDUP))

    # Diagnostic (no target): the same without embeddings (row, chunks + full-text, body, graph
    # node; the vectors would be written later by the worker) shows what the HNSW inserts cost.
    diag_bulk = corpus.items("noembed-bulk", min(5_000, max(500, args.docs // 10)))
    seconds, _ = timed(
        lambda: [
            services.document_ingest(workspace_id=workspace_id, items=diag_bulk[i : i + args.batch], embed=False)
            for i in range(0, len(diag_bulk), args.batch)
        ]
    )
    diag_bulk_rate = len(diag_bulk) / seconds
    diag_single = corpus.items("noembed-single", min(300, args.single))
    seconds, _ = timed(
        lambda: [services.document_ingest(workspace_id=workspace_id, items=[item]) for item in diag_single]
    )
    diag_single_rate = len(diag_single) / seconds
    print(
        f"   diagnostic, embed=False (vectors left to the worker): bulk {diag_bulk_rate:,.0f} docs/s, "
        f"one by one {diag_single_rate:,.0f} docs/s, x{diag_bulk_rate / diag_single_rate:.1f}"
    )

    # every document is in all four models
    sample = Document.objects.filter(workspace_id=workspace_id, external_id__startswith="bulk-").order_by("?")
    sample = sample.values_list("id", flat=True)[:50]
    model = get_embedder().model
    collection = stores.chunk_collection(workspace_id=workspace_id, model=model)
    for document_id in sample:
        assert stores.documents().get(stores.DOCUMENTS_COLLECTION, str(document_id)) is not None
        assert stores.vectors().count(collection, filter={"document_id": document_id}) > 0
        assert stores.graph().get_node(NodeRef(stores.GRAPH_LABEL, str(document_id))) is not None


def top_up_vectors(workspace_id: int, corpus: Corpus, target: int, results: list) -> str:
    embedder = get_embedder()
    collection = stores.chunk_collection(workspace_id=workspace_id, model=embedder.model)
    have = stores.vectors().count(collection)
    missing = max(0, target - have)
    print(f"\n2. vector search: {have:,} chunk vectors; adding {missing:,} generated vectors with VectorStore.upsert")
    started = time.perf_counter()
    batch = 1000
    for start in range(0, missing, batch):
        n = min(batch, missing - start)
        texts = [corpus.text(int(corpus.rng.integers(len(corpus.topics))), 110) for _ in range(n)]
        vectors = embedder.embed(texts)
        stores.vectors().upsert(
            collection,
            [
                VectorItem(f"extra-{start + i}", vectors[i], {"workspace_id": workspace_id, "synthetic": True})
                for i in range(n)
            ],
            model=embedder.model,
        )
    if missing:
        seconds = time.perf_counter() - started
        print(f"   upsert (with the HNSW index live): {missing / seconds:,.0f} vectors/s")
    return collection


def bench_search(collection: str, corpus: Corpus, args: argparse.Namespace, results: list) -> None:
    embedder = get_embedder()
    seconds, (keys, matrix) = timed(lambda: load_collection(collection))
    print(f"   loaded {len(keys):,} x {matrix.shape[1]} vectors for the exact scan in {seconds:.1f} s")
    rng = np.random.default_rng(args.seed + 7)
    half = args.queries // 2
    held_out = embedder.embed([corpus.text(int(rng.integers(len(corpus.topics))), 30) for _ in range(half)])
    picked = matrix[rng.choice(len(keys), args.queries - half, replace=False)]
    noisy = picked + rng.normal(0.0, 0.6 / np.sqrt(matrix.shape[1]), picked.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    queries = np.vstack([held_out, noisy]).astype(np.float32)
    truth = [{keys[i] for i in exact_top_k(matrix, query)} for query in queries]
    exact_times = [timed(lambda q=query: exact_top_k(matrix, q))[0] for query in queries]
    exact_p50 = statistics.median(exact_times)
    print(f"   {len(queries)} queries ({half} held-out texts, {len(queries) - half} perturbed stored vectors), k={K}")
    print(f"   numpy exact scan:          p50 {ms(exact_p50)}   p95 {ms(percentile(exact_times, 0.95))}")

    configured = int(settings.STRATA_HNSW_EF_SEARCH)
    sweep = sorted({configured, *args.ef_sweep})
    measured: dict[int, tuple[float, float, float, float, float]] = {}
    try:
        for ef_search in sweep:
            settings.STRATA_HNSW_EF_SEARCH = ef_search  # read by the adapter on every search
            measured[ef_search] = _hnsw_run(collection, queries, truth, half)
    finally:
        settings.STRATA_HNSW_EF_SEARCH = configured
    for ef_search, (recall, recall_held, recall_perturbed, p50, p95) in measured.items():
        mark = "  <- STRATA_HNSW_EF_SEARCH" if ef_search == configured else ""
        print(
            f"   VectorStore.search (HNSW) ef_search={ef_search:<4}: recall@{K} {recall:.3f} "
            f"(held-out {recall_held:.3f}, perturbed {recall_perturbed:.3f})   p50 {ms(p50)}   p95 {ms(p95)}   "
            f"x{exact_p50 / p50:.1f} vs exact{mark}"
        )
    recall, _, _, p50, _ = measured[configured]
    speedup = exact_p50 / p50
    results.append(
        (f"recall@{K} >= {TARGET_RECALL} at {len(keys):,} vectors (ef_search={configured})", recall >= TARGET_RECALL)
    )
    results.append((f"search p50 <= {TARGET_P50_MS} ms (ef_search={configured})", p50 * 1000 <= TARGET_P50_MS))
    results.append(
        (f"search >= {TARGET_SEARCH_SPEEDUP:.0f}x faster than numpy exact scan", speedup >= TARGET_SEARCH_SPEEDUP)
    )


def _hnsw_run(
    collection: str, queries: np.ndarray, truth: list[set[str]], half: int
) -> tuple[float, float, float, float, float]:
    """(recall, recall of the held-out half, recall of the perturbed half, p50 s, p95 s) of VectorStore.search."""
    vectors, model = stores.vectors(), get_embedder().model
    # warm up the index pages and the connection
    times, found = time_calls(lambda q: vectors.search(collection, q, model=model, k=K), queries, warm=10)
    recalls = [len(expected & {hit.key for hit in hits}) / K for expected, hits in zip(truth, found, strict=True)]
    return (
        float(np.mean(recalls)),
        float(np.mean(recalls[:half])),
        float(np.mean(recalls[half:])),
        statistics.median(times),
        percentile(times, 0.95),
    )


def bench_document_page(workspace_id: int, args: argparse.Namespace) -> None:
    ready = Document.objects.filter(workspace_id=workspace_id, status=Document.Status.READY)
    ids = list(ready.order_by("?").values_list("id", flat=True)[: args.pages])
    uncached, cached = [], []
    for document_id in ids:
        caching.bump_content_version(workspace_id)  # a new content version: nothing is cached
        seconds, context = timed(
            lambda d=document_id: selectors.document_with_context(workspace_id=workspace_id, document_id=d)
        )
        uncached.append(seconds)
        assert context.similar, "a document of a topic has similar documents"
        seconds, again = timed(
            lambda d=document_id: selectors.document_with_context(workspace_id=workspace_id, document_id=d)
        )
        cached.append(seconds)
        assert again.document.pk == document_id
    print(f"\n3. document page (document_with_context, {len(ids)} documents, {len(context.similar)} similar each)")
    print(f"   uncached: p50 {ms(statistics.median(uncached))}   p95 {ms(percentile(uncached, 0.95))}")
    print(f"   cached:   p50 {ms(statistics.median(cached))}   p95 {ms(percentile(cached, 0.95))}")
    print(f"   cache speedup x{statistics.median(uncached) / statistics.median(cached):.0f}")


WORKSPACE_PREFIX = "content bench "


def cleanup(workspace: Workspace) -> None:
    """Delete the workspace's content from every store, then the workspace and its bench user."""
    started = time.perf_counter()
    connection.close_if_unusable_or_obsolete()
    workspace_id = workspace.pk
    users = list(get_user_model().objects.filter(memberships__workspace=workspace, username__startswith="bench-"))
    vectors = stores.vectors()
    prefix = stores.chunk_collection(workspace_id=workspace_id, model="x")[:-1]
    for collection in vectors.list_collections():
        if collection.name.startswith(prefix):
            vectors.drop_collection(collection.name)
    ids = [str(i) for i in Document.objects.filter(workspace_id=workspace_id).values_list("id", flat=True)]
    for start in range(0, len(ids), 5000):
        stores.documents().delete_many(stores.DOCUMENTS_COLLECTION, ids[start : start + 5000])
    stores.graph().cypher(
        "MATCH (d:Document) WHERE d.workspace_id = $ws DETACH DELETE d RETURN count(*)", {"ws": workspace_id}
    )
    Chunk.objects.filter(workspace_id=workspace_id).delete()
    Document.objects.filter(workspace_id=workspace_id).delete()
    OutboxEvent.objects.filter(workspace_id=workspace_id).delete()
    workspace.delete()
    for user in users:
        user.delete()
    print(f"cleaned up workspace {workspace_id} in {time.perf_counter() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50_000, help="documents ingested in batches")
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors in the collection for the search test")
    parser.add_argument("--single", type=int, default=1_000, help="documents ingested one call each")
    parser.add_argument("--batch", type=int, default=settings.STRATA_INGEST_BATCH_SIZE)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--ef-sweep", type=int, nargs="*", default=[40, 200, 400], help="hnsw.ef_search values also measured"
    )
    parser.add_argument("--pages", type=int, default=100, help="documents for the document-page timing")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    total_started = time.perf_counter()
    logging.getLogger("content").setLevel(logging.WARNING)  # no line per ingest call
    call_command("migrate", verbosity=0)
    print(f"database {connection.settings_dict['NAME']!r}, embedder {get_embedder().model}")
    for leftover in Workspace.objects.filter(name__startswith=WORKSPACE_PREFIX):  # of an interrupted run
        cleanup(leftover)
    user = get_user_model().objects.create_user(username=f"bench-{os.getpid()}-{time.time_ns()}")
    workspace = core_services.workspace_create(name=f"{WORKSPACE_PREFIX}{os.getpid()}", owner=user)
    corpus = Corpus(args.seed)
    results: list[tuple[str, bool]] = []
    try:
        bench_ingest(workspace.pk, corpus, args, results)
        collection = top_up_vectors(workspace.pk, corpus, args.vectors, results)
        bench_search(collection, corpus, args, results)
        bench_document_page(workspace.pk, args)
    finally:
        print()
        cleanup(workspace)

    print()
    for name, ok in results:
        print(f"{verdict(ok)}  {name}")
    print(f"\ntotal runtime {time.perf_counter() - total_started:.0f} s")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
