"""What the vector_scale benchmark measures with: a staged load timed in its parts, CPU clocks
(this process plus its PostgreSQL backend, and the backends that exited: a live load's helper
connections), numpy's exact top 10 as the baseline (in memory or streamed chunk by chunk), the
ef_search sweep, the index size and a sampler of an index build's progress."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection

from bench.synthetic_vectors import LowRank
from bench.vector_bench import MODEL, SELECTIVITY, K, backend_cpu, run  # sets Django up
from core.storage import hnsw
from core.storage.ports import VectorItem
from core.storage.postgres import vector_index
from core.storage.postgres.vectors import PostgresVectorStore

CHUNK = 10_000


def exact_cpu(matrix: np.ndarray, queries: np.ndarray) -> float:
    """numpy's exact top 10 (matrix product + argpartition over prepared unit vectors): CPU per query."""
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)  # prepared once, not timed
    started = time.process_time()
    for query in queries:
        scores = unit @ (query / np.linalg.norm(query))
        top = np.argpartition(-scores, K)[:K]
        top[np.argsort(-scores[top])]
    return (time.process_time() - started) / len(queries)


def cpu_now() -> float:
    return backend_cpu() + time.process_time()


def items(start: int, matrix: np.ndarray) -> list[VectorItem]:
    rows = range(start, start + len(matrix))
    tags = [[tag for tag, every in SELECTIVITY.items() if i % every == 0] for i in rows]
    return [VectorItem(f"d{i}", matrix[i - start], {"sel": tags[i - start]}) for i in rows]


def staged_load(store: PostgresVectorStore, name: str, index: str, chunks) -> tuple[int, float, float, float]:
    """(rows, wall s, CPU s of the COPY part, backend CPU s of the build + swap)."""
    store.drop_collection(name)
    store.create_collection(name, dimension=1536, model=MODEL, index=index)
    load = store.bulk_load(name, model=MODEL, rows=10**9)
    assert load.staged
    started, cpu0, rows = time.monotonic(), cpu_now(), 0
    for matrix in chunks:
        load.add(items(rows, matrix))
        rows += len(matrix)
    copy_cpu = cpu_now() - cpu0
    build0 = backend_cpu()
    load.finish()
    return rows, time.monotonic() - started, copy_cpu, backend_cpu() - build0


def index_size(store: PostgresVectorStore, name: str) -> float:
    spec = store.get_spec(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [vector_index.index_name(spec.id, spec.index_type)])
        return cursor.fetchone()[0] / 2**20


def ef_sweep(store, name: str, queries: np.ndarray, truth, efs, *, label: str, exact_cpu: float | None = None) -> None:
    """Recall, p50 and CPU per query at each ef_search of ``efs`` and at the collection's default
    (marked), beside numpy's exact scan when ``exact_cpu`` is given."""
    configured = settings.STRATA_HNSW_EF_SEARCH
    default_ef = hnsw.ef_search_for(store.get_spec(name).rows_estimate)
    try:
        for ef in sorted({default_ef, *efs}):
            settings.STRATA_HNSW_EF_SEARCH = ef
            run(store, name, queries[:10], truth[:10])  # warm the index pages
            recall, p50, cpu, _ = run(store, name, queries, truth)
            exact = ""
            if exact_cpu is not None:
                exact = f"  numpy exact {exact_cpu * 1000:6.2f} ms/query = {exact_cpu / cpu:5.1f}x"
            mark = "  <- default" if ef == default_ef else ""
            print(
                f"{label}ef_search {ef:<4} recall@{K} {recall:.3f}  p50 {p50 * 1000:6.2f} ms  "
                f"CPU {cpu * 1000:6.2f} ms/query{exact}{mark}"
            )
    finally:
        settings.STRATA_HNSW_EF_SEARCH = configured


def exited_backends_cpu() -> float:
    """CPU seconds of the server's child processes that have exited (the postmaster's cutime +
    cstime): a live load's helper connections end with the load, so their backends' CPU lands
    here (so does that of any autovacuum worker that ended meanwhile)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    fields = Path(f"/proc/{ppid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def exact_streamed(space: LowRank, rows: int, queries: np.ndarray) -> tuple[list[set], float]:
    """numpy's exact top 10 of each query over ``rows`` vectors regenerated chunk by chunk, and
    its CPU per query (all queries per chunk in one matrix product: a lower bound)."""
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    best_scores = np.full((len(queries), K), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), K), dtype=np.int64)
    cpu, start = 0.0, 0
    for matrix in space.chunks(rows, CHUNK):
        started = time.process_time()
        scores = unit @ matrix.T  # rows are unit vectors already
        merged_scores = np.hstack([best_scores, scores])
        merged_ids = np.hstack([best_ids, np.broadcast_to(np.arange(start, start + len(matrix)), scores.shape)])
        top = np.argpartition(-merged_scores, K, axis=1)[:, :K]
        best_scores = np.take_along_axis(merged_scores, top, axis=1)
        best_ids = np.take_along_axis(merged_ids, top, axis=1)
        cpu += time.process_time() - started
        start += len(matrix)
    return [{f"d{i}" for i in row} for row in best_ids], cpu / len(queries)


def build_progress(stop: threading.Event, samples: list[tuple[float, int]]) -> None:
    """Sample the build's tuples done every 20 s (another connection)."""
    from django.db import connections

    try:
        while not stop.wait(20):
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT coalesce(max(tuples_done), 0) FROM pg_stat_progress_create_index")
                samples.append((time.monotonic(), int(cursor.fetchone()[0])))
    finally:
        connections.close_all()
