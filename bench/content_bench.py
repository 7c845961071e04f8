"""Content benchmark: bulk ingest into all four models, HNSW search vs an exact scan, the document page.

    STRATA_DB_NAME=strata_bench python bench/content_bench.py [--docs 50000] [--vectors 100000]
        [--index halfvec binary] [--provider synthetic|hashing|sentence-transformers]

Creates its own workspaces (and user) in the database named by STRATA_DB_NAME (migrated on
start; default ``strata_bench``: never point it at real data), then:

1. per index type (``--index``; the binary one is ``STRATA_VECTOR_INDEX=binary``): ingests
   ``--docs`` generated documents through ``content.services.document_ingest_batches(embed=True)``
   in batches on ``--workers`` writer threads (bench/content_ingest.py) into a fresh workspace
   (row + chunks with full-text vectors, JSON body, chunk embeddings, graph node -- all four
   models), with one bulk vector load for the whole run (``services.embedding_bulk_load``, as
   ``manage.py ingest --embed`` does: COPY into a hidden unindexed copy, ONE index build, the
   swap, the marking) -- end to end, index build included, phase by phase; then
   ``--single`` more, one call each (vectors inserted into the live index), as the baseline;
2. tops the collection up to ``--vectors`` vectors (a staged ``VectorStore.bulk_load``), then
   runs ``--queries`` queries (half held-out texts, half perturbed stored vectors) through
   ``VectorStore.search`` (HNSW) and through numpy's exact scan of the same vectors: recall@10,
   p50 and CPU per query (this process + the PostgreSQL backend) of both;
3. times ``content.selectors.document_with_context`` uncached and cached (Redis).

Embeddings: by default a BENCH-ONLY provider (``bench/synthetic_vectors.SyntheticEmbedder``)
returns realistic low-intrinsic-dimension vectors per text at almost no cost: the embedding
model's own cost is not the store's (MiniLM costs ~4 ms of CPU per chunk here). The output says
which provider ran. Prints each figure beside its baseline from the same run, PASS/FAIL per
target, then deletes everything it created.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("STRATA_DB_NAME", "strata_bench")
os.environ.setdefault("STRATA_EMBEDDING_PROVIDER", "hashing")

import django  # noqa: E402

from bench.common import backend_cpu, ms, percentile, time_calls, timed, verdict  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402

from bench.content_corpus import Corpus  # noqa: E402
from bench.content_ingest import bench_ingest  # noqa: E402
from content import caching, selectors, stores  # noqa: E402
from content.embeddings import get_embedder  # noqa: E402
from content.models import Chunk, Document  # noqa: E402
from core import services as core_services  # noqa: E402
from core.models import OutboxEvent, Workspace  # noqa: E402
from core.storage import hnsw  # noqa: E402
from core.storage.ports import GraphStore, VectorItem, VectorStore  # noqa: E402

TARGET_RECALL = 0.95
TARGET_P50_MS = 3.0
TARGET_SEARCH_SPEEDUP = 15.0
SYNTHETIC = "bench-synthetic"
K = 10

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


def cpu_now() -> float:
    """This process's CPU plus its backend's (a search's work is split between the two)."""
    return time.process_time() + backend_cpu()


def top_up_vectors(workspace_id: int, corpus: Corpus, target: int, results: list) -> str:
    embedder = get_embedder()
    collection = stores.chunk_collection(workspace_id=workspace_id, model=embedder.model)
    have = stores.vectors().count(collection)
    missing = max(0, target - have)
    print(
        f"\n2. vector search: {have:,} chunk vectors; adding {missing:,} generated vectors with VectorStore.bulk_load"
    )
    started = time.perf_counter()
    load = stores.vectors().bulk_load(collection, model=embedder.model, rows=missing)
    for start in range(0, missing, 5000):
        n = min(5000, missing - start)
        topics = corpus.rng.integers(len(corpus.topics), size=n)
        vectors = embedder.embed([f"extra {start + i} on topic {topics[i]}" for i in range(n)])
        load.add(
            VectorItem(f"extra-{start + i}", vectors[i], {"workspace_id": workspace_id, "synthetic": True})
            for i in range(n)
        )
    load.finish()
    if missing:
        seconds = time.perf_counter() - started
        kind = "staged: one index build" if load.staged else "live"
        print(f"   bulk_load ({kind}): {missing / seconds:,.0f} vectors/s")
    return collection


def bench_search(collection: str, corpus: Corpus, args: argparse.Namespace, results: list) -> None:
    embedder = get_embedder()
    seconds, (keys, matrix) = timed(lambda: load_collection(collection))
    print(f"   loaded {len(keys):,} x {matrix.shape[1]} vectors for the exact scan in {seconds:.1f} s")
    rng = np.random.default_rng(args.seed + 7)
    half = args.queries // 2
    topics = rng.integers(len(corpus.topics), size=half)
    held_out = embedder.embed([f"query on topic {t}: {corpus.text(int(t), 30)}" for t in topics])
    picked = matrix[rng.choice(len(keys), args.queries - half, replace=False)]
    noisy = picked + rng.normal(0.0, 0.6 / np.sqrt(matrix.shape[1]), picked.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    queries = np.vstack([held_out, noisy]).astype(np.float32)
    truth = [{keys[i] for i in exact_top_k(matrix, query)} for query in queries]
    cpu0 = time.process_time()
    exact_times = [timed(lambda q=query: exact_top_k(matrix, q))[0] for query in queries]
    exact_cpu = (time.process_time() - cpu0) / len(queries)
    exact_p50 = statistics.median(exact_times)
    print(f"   {len(queries)} queries ({half} held-out texts, {len(queries) - half} perturbed stored vectors), k={K}")
    print(
        f"   numpy exact scan:          p50 {ms(exact_p50)}   p95 {ms(percentile(exact_times, 0.95))}   "
        f"CPU {exact_cpu * 1000:.2f} ms/query"
    )

    configured = settings.STRATA_HNSW_EF_SEARCH
    default_ef = hnsw.ef_search_for(len(keys))  # what a search of this collection uses by default
    sweep = sorted({default_ef, *args.ef_sweep})
    measured: dict[int, tuple[float, float, float, float, float, float]] = {}
    try:
        for ef_search in sweep:
            settings.STRATA_HNSW_EF_SEARCH = ef_search  # read by the adapter on every search
            measured[ef_search] = _hnsw_run(collection, queries, truth, half)
    finally:
        settings.STRATA_HNSW_EF_SEARCH = configured
    for ef_search, (recall, recall_held, recall_perturbed, p50, p95, cpu) in measured.items():
        mark = "  <- the default (STRATA_HNSW_EF_SEARCH or by size)" if ef_search == default_ef else ""
        print(
            f"   VectorStore.search (HNSW) ef_search={ef_search:<4}: recall@{K} {recall:.3f} "
            f"(held-out {recall_held:.3f}, perturbed {recall_perturbed:.3f})   p50 {ms(p50)}   p95 {ms(p95)}   "
            f"CPU {cpu * 1000:.2f} ms/query = x{exact_cpu / cpu:.1f} numpy's exact CPU "
            f"(wall x{exact_p50 / p50:.1f}){mark}"
        )
    recall, _, _, p50, _, cpu = measured[default_ef]
    speedup = exact_cpu / cpu
    results.append(
        (f"recall@{K} >= {TARGET_RECALL} at {len(keys):,} vectors (ef_search={configured})", recall >= TARGET_RECALL)
    )
    results.append((f"search p50 <= {TARGET_P50_MS} ms (ef_search={configured})", p50 * 1000 <= TARGET_P50_MS))
    results.append(
        (f"search >= {TARGET_SEARCH_SPEEDUP:.0f}x less CPU than numpy's exact scan", speedup >= TARGET_SEARCH_SPEEDUP)
    )


def _hnsw_run(
    collection: str, queries: np.ndarray, truth: list[set[str]], half: int
) -> tuple[float, float, float, float, float, float]:
    """(recall, recall of the held-out half, recall of the perturbed half, p50 s, p95 s, CPU s
    per query of this process and its backend) of VectorStore.search."""
    vectors, model = stores.vectors(), get_embedder().model
    for query in queries[:10]:  # warm up the index pages and the connection
        vectors.search(collection, query, model=model, k=K)
    cpu0 = cpu_now()
    times, found = time_calls(lambda q: vectors.search(collection, q, model=model, k=K), queries, warm=0)
    cpu = (cpu_now() - cpu0) / len(queries)
    recalls = [len(expected & {hit.key for hit in hits}) / K for expected, hits in zip(truth, found, strict=True)]
    return (
        float(np.mean(recalls)),
        float(np.mean(recalls[:half])),
        float(np.mean(recalls[half:])),
        statistics.median(times),
        percentile(times, 0.95),
        cpu,
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


def delete_content(workspace_id: int, *, vector_stores: Iterable[VectorStore], graph: GraphStore) -> None:
    """Delete the workspace's content: its chunk collections in ``vector_stores``, its document
    bodies, its ``Document`` nodes in ``graph`` (AGE), its chunk, document and outbox rows."""
    prefix = stores.chunk_collection(workspace_id=workspace_id, model="x")[:-1]
    for vectors in vector_stores:
        for collection in vectors.list_collections():
            if collection.name.startswith(prefix):
                vectors.drop_collection(collection.name)
    ids = [str(i) for i in Document.objects.filter(workspace_id=workspace_id).values_list("id", flat=True)]
    for start in range(0, len(ids), 5000):
        stores.documents().delete_many(stores.DOCUMENTS_COLLECTION, ids[start : start + 5000])
    graph.cypher("MATCH (d:Document) WHERE d.workspace_id = $ws DETACH DELETE d RETURN count(*)", {"ws": workspace_id})
    Chunk.objects.filter(workspace_id=workspace_id).delete()
    Document.objects.filter(workspace_id=workspace_id).delete()
    OutboxEvent.objects.filter(workspace_id=workspace_id).delete()


def cleanup(workspace: Workspace) -> None:
    """Delete the workspace's content from every store, then the workspace and its bench user."""
    started = time.perf_counter()
    connection.close_if_unusable_or_obsolete()
    workspace_id = workspace.pk
    users = list(get_user_model().objects.filter(memberships__workspace=workspace, username__startswith="bench-"))
    delete_content(workspace_id, vector_stores=[stores.vectors()], graph=stores.graph())
    workspace.delete()
    for user in users:
        user.delete()
    # vacuum what the deletes left now, so autovacuum does not do it during the next measured run
    # (it did: the binary run after the halfvec one cost 0.23 ms more PostgreSQL CPU per document)
    with connection.cursor() as cursor:
        for table in ("content_chunk", "content_document", "core_outboxevent", "strata_document", "strata_vector"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")  # noqa: S608 (constant table names)
    print(f"cleaned up workspace {workspace_id} (and vacuumed) in {time.perf_counter() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50_000, help="documents ingested in batches")
    parser.add_argument("--vectors", type=int, default=100_000, help="vectors in the collection for the search test")
    parser.add_argument("--single", type=int, default=1_000, help="documents ingested one call each")
    parser.add_argument("--batch", type=int, default=settings.STRATA_INGEST_BATCH_SIZE)
    parser.add_argument(
        "--workers",
        type=int,
        default=settings.STRATA_INGEST_WORKERS,
        help="writer threads of the bulk ingest (document_ingest_batches); 1: one batch after another",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--ef-sweep", type=int, nargs="*", default=[40, 200, 400], help="hnsw.ef_search values also measured"
    )
    parser.add_argument("--ingest-only", action="store_true", help="only the ingest runs (no search, no pages)")
    parser.add_argument(
        "--vectors-first",
        action="store_true",
        help="STRATA_INGEST_VECTORS_FIRST: stage every batch's vectors first, build while the rows are written",
    )
    parser.add_argument("--pages", type=int, default=100, help="documents for the document-page timing")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--index", nargs="*", default=["halfvec", "binary"], help="one ingest run per index type")
    parser.add_argument(
        "--provider", default="synthetic", help="embedding provider; synthetic: the bench-only one (module doc)"
    )
    args = parser.parse_args()
    settings.STRATA_INGEST_VECTORS_FIRST = args.vectors_first
    if args.provider == "synthetic":
        from bench.synthetic_vectors import SyntheticEmbedder
        from content import embeddings

        embeddings.PROVIDERS[SYNTHETIC] = lambda model=None: SyntheticEmbedder()
        settings.STRATA_EMBEDDING_PROVIDER = SYNTHETIC
    else:
        settings.STRATA_EMBEDDING_PROVIDER = args.provider

    total_started = time.perf_counter()
    logging.getLogger("content").setLevel(logging.WARNING)  # no line per ingest call
    call_command("migrate", verbosity=0)
    print(f"database {connection.settings_dict['NAME']!r}, embedder {get_embedder().model}")
    if args.provider == "synthetic":
        print(
            "embeddings: BENCH-ONLY synthetic provider (low-rank vectors per text, almost free): the figures are the "
            "store's and the app's, not an embedding model's"
        )
    for leftover in Workspace.objects.filter(name__startswith=WORKSPACE_PREFIX):  # of an interrupted run
        cleanup(leftover)
    corpus = Corpus(args.seed)
    results: list[tuple[str, bool]] = []
    configured_index = settings.STRATA_VECTOR_INDEX
    for position, index in enumerate(args.index):
        user = get_user_model().objects.create_user(username=f"bench-{os.getpid()}-{time.time_ns()}")
        workspace = core_services.workspace_create(name=f"{WORKSPACE_PREFIX}{os.getpid()} {index}", owner=user)
        try:
            bench_ingest(workspace.pk, corpus, args, results, index)
            settings.STRATA_VECTOR_INDEX = configured_index
            if position == 0 and not args.ingest_only:  # search and pages on the first index type's workspace
                collection = top_up_vectors(workspace.pk, corpus, args.vectors, results)
                bench_search(collection, corpus, args, results)
                bench_document_page(workspace.pk, args)
        finally:
            settings.STRATA_VECTOR_INDEX = configured_index
            print()
            cleanup(workspace)

    print()
    for name, ok in results:
        print(f"{verdict(ok)}  {name}")
    print(f"\ntotal runtime {time.perf_counter() - total_started:.0f} s")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
