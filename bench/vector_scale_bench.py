"""pgvector at scale on synthetic low-intrinsic-dimension vectors, the bulk path and its switch
point (issue 9).

    ./strata bench vector_scale [--rows 100000] [--index halfvec binary] [--toasted]
                                [--switch] [--live 4000] [--worst 20000] [--million]

Vectors: ``bench/synthetic_vectors.LowRank`` (clustered points on a random 24-dimensional
subspace of 1536, noise, normalised: the realistic stand-in) and, labelled as the worst case
only, ``hashing_like`` (sparse random +/-1, what feature hashing gives). Queries: held-out points.
Truth: numpy's exact cosine top 10 over the same vectors, whose CPU per query is the baseline.

1. per index type: a staged ``bulk_load`` (COPY into the hidden copy in 10,000-row commits, one
   serial build on pgvector < 0.8.2, the swap): rows/s and vectors per backend CPU-second;
   then recall@10, p50 and CPU per query (this process + the PostgreSQL backend) per ef_search
   beside numpy's exact scan (the ef_search the collection's size picks marked as the default);
   then filtered searches at 50/10/1/0.1% selectivity (recall, fewest hits, p50, CPU, path);
   ``--toasted`` first loads the same vectors with the column's storage before migration 0008
   (out of line, in the TOAST table) and runs the filtered searches over them: before/after in
   one run;
2. ``--live N``: a live load of N rows into ``--switch-base`` indexed rows over one connection,
   then N more over two (``STRATA_VECTOR_LIVE_CONNECTIONS``): rows/s and CPU per row;
3. ``--switch``: the switch point. A live load of ``--switch-rows`` rows into a collection of
   ``--switch-base`` indexed rows (CPU per row) against a staged load of the same rows (copy,
   COPY, one build of the whole collection): staging wins once the load is more than
   (staged CPU per collection row) / (live CPU per row) of the collection afterwards; that
   fraction is ``STRATA_VECTOR_BULK_FRACTION``;
4. ``--worst N``: N hashing-like vectors (labelled worst case);
5. ``--million``: 1,000,000 low-rank vectors into a halfvec collection (run it with
   ``STRATA_HNSW_BUILD_MEMORY=8GB``), the build given ``--build-minutes`` (30) at most; the
   build's progress (``pg_stat_progress_create_index``) is sampled, so a build that does not fit
   still reports its measured rate. Truth: numpy's exact top 10 streamed over the same chunks.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.synthetic_vectors import LowRank, hashing_like  # noqa: E402
from bench.vector_bench import MODEL, SELECTIVITY, K, backend_cpu, exact_truth, run  # noqa: E402 (sets Django up)
from bench.vector_measure import (  # noqa: E402
    CHUNK,
    build_progress,
    cpu_now,
    ef_sweep,
    exact_cpu,
    exact_streamed,
    exited_backends_cpu,
    index_size,
    items,
    staged_load,
)
from core.storage.filters import Eq  # noqa: E402
from core.storage.ports import VectorItem  # noqa: E402
from core.storage.postgres.vectors import PostgresVectorStore  # noqa: E402


def bench_index(store, index: str, space: LowRank, rows: int, queries: np.ndarray, truth, exact_cpu, args) -> None:
    name = f"bench-scale-{index}"
    n, wall, copy_cpu, build_cpu = staged_load(store, name, index, space.chunks(rows, CHUNK))
    print(
        f"\n{index}: staged load of {n:,} rows in {wall:.0f} s wall = {n / wall:,.0f} rows/s end to end; "
        f"COPY {copy_cpu / n * 1000:.3f} ms CPU/row; build {n / max(build_cpu, 1e-9):,.0f} vectors per backend "
        f"CPU-second ({build_cpu:.0f} s, serial on pgvector < 0.8.2); index {index_size(store, name):,.1f} MiB"
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE strata_vector")
    ef_sweep(store, name, queries, truth, args.ef, label="  ", exact_cpu=exact_cpu)
    if args.filters:
        filtered(store, name, queries, args, label="")
    store.drop_collection(name)


def filtered(store: PostgresVectorStore, name: str, queries: np.ndarray, args, *, label: str) -> None:
    """Filtered searches at 50/10/1/0.1% selectivity: recall@10, k hits, p50, CPU, the path taken."""
    every_docs = np.arange(len(args.matrix))
    spec = store._checked(name, MODEL)
    for tag, every in SELECTIVITY.items():
        mask = every_docs % every == 0
        subset_truth, _ = exact_truth(args.matrix, queries, mask)
        run(store, name, queries[:10], subset_truth[:10], tag=tag)  # warm the pages
        recall, p50, cpu, paths = run(store, name, queries, subset_truth, tag=tag)
        fewest = min(len(store.search_rows(spec, query, K, Eq("sel", tag))) for query in queries[:50])
        print(
            f"  {label}filter {100 / every:5.1f}% ({mask.sum():,} rows, path {'/'.join(sorted(paths))}) "
            f"recall@{K} {recall:.3f}  p50 {p50 * 1000:6.2f} ms  CPU {cpu * 1000:6.2f} ms/query  "
            f"fewest hits {fewest}  load {Path('/proc/loadavg').read_text().split()[0]}"
        )


def bench_toasted(store: PostgresVectorStore, space: LowRank, rows: int, queries: np.ndarray, args) -> None:
    """Before migration 0008, in the same run: the same vectors loaded with the column's old
    storage (out of line in the TOAST table), then the filtered searches over them."""
    name = "bench-scale-toasted"
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE strata_vector ALTER COLUMN embedding SET STORAGE EXTENDED")
        cursor.execute("ALTER TABLE strata_vector RESET (toast_tuple_target)")
    try:
        staged_load(store, name, "halfvec", space.chunks(rows, CHUNK))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE strata_vector ALTER COLUMN embedding SET STORAGE MAIN")
            cursor.execute("ALTER TABLE strata_vector SET (toast_tuple_target = 8160)")
    with connection.cursor() as cursor:  # analyzed by the load, like the inline collection after it
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_column_toast_chunk_id(embedding) IS NOT NULL), count(*) "
            "FROM strata_vector WHERE collection_id = %s",
            [store.get_spec(name).id],
        )
        toasted, total = cursor.fetchone()
    print(f"\nBEFORE (vectors in the TOAST table, as before migration 0008): {toasted:,} of {total:,} rows TOASTed")
    filtered(store, name, queries, args, label="toasted ")
    store.drop_collection(name)
    with connection.cursor() as cursor:  # its dead rows gone before the next collection is measured
        cursor.execute("VACUUM ANALYZE strata_vector")


def bench_switch(store: PostgresVectorStore, space: LowRank, base: int, extra: int) -> None:
    """Live CPU per row against staged CPU per collection row (see the module doc)."""
    name = "bench-switch"
    staged_load(store, name, "halfvec", space.chunks(base, CHUNK))
    new = space.chunk(10**6, extra)
    live = store.bulk_load(name, model=MODEL, rows=1)  # small: live batches
    assert not live.staged
    cpu0, wall0 = cpu_now() + exited_backends_cpu(), time.monotonic()  # + the helper connection's backend
    live.add([VectorItem(f"live{i}", new[i], {}) for i in range(extra)])
    live.finish()
    live_cpu, live_wall = cpu_now() + exited_backends_cpu() - cpu0, time.monotonic() - wall0
    staged = store.bulk_load(name, model=MODEL, rows=10**9)
    cpu0, wall0 = cpu_now(), time.monotonic()
    staged.add([VectorItem(f"staged{i}", new[i], {}) for i in range(extra)])
    staged.finish()
    staged_cpu, staged_wall = cpu_now() - cpu0, time.monotonic() - wall0
    total = base + 2 * extra
    per_live, per_staged = live_cpu / extra, staged_cpu / total
    print(
        f"\nswitch point (halfvec, {base:,} indexed rows): live load of {extra:,} rows "
        f"{per_live * 1000:.2f} ms CPU/row ({extra / live_wall:,.0f} rows/s, {settings.STRATA_VECTOR_LIVE_BATCH} "
        f"per commit); staged load {per_staged * 1000:.2f} ms CPU per collection row (copy + COPY + build of "
        f"{total:,} rows, {staged_wall:.0f} s)"
    )
    print(
        f"  staging wins when the load is more than {per_staged / per_live:.2f} of the collection after it "
        f"(STRATA_VECTOR_BULK_FRACTION is {settings.STRATA_VECTOR_BULK_FRACTION})"
    )
    store.drop_collection(name)



def bench_live(store: PostgresVectorStore, space: LowRank, base: int, rows: int) -> None:
    """A live load of ``rows`` rows into a collection of ``base`` indexed rows over one connection,
    then ``rows`` more over two (``STRATA_VECTOR_LIVE_CONNECTIONS``): rows/s and CPU per row
    (this process, its backend and the helper's backend)."""
    name = "bench-live"
    staged_load(store, name, "halfvec", space.chunks(base, CHUNK))
    configured = settings.STRATA_VECTOR_LIVE_CONNECTIONS
    results = {}
    try:
        for connections_used in (1, 2):
            settings.STRATA_VECTOR_LIVE_CONNECTIONS = connections_used
            new = space.chunk(2 * 10**6 + connections_used, rows)
            load = store.bulk_load(name, model=MODEL, rows=1)
            assert not load.staged
            cpu0, exited0, wall0 = cpu_now(), exited_backends_cpu(), time.monotonic()
            load.add([VectorItem(f"live{connections_used}-{i}", new[i], {}) for i in range(rows)])
            load.finish()
            wall = time.monotonic() - wall0
            cpu = cpu_now() - cpu0 + exited_backends_cpu() - exited0
            results[connections_used] = rows / wall
            print(
                f"\nlive load over {connections_used} connection(s), {rows:,} rows into {base:,}+ indexed rows, "
                f"{settings.STRATA_VECTOR_LIVE_BATCH} per commit: {rows / wall:,.0f} rows/s, "
                f"{cpu / rows * 1000:.2f} ms CPU/row  load {Path('/proc/loadavg').read_text().split()[0]}"
            )
    finally:
        settings.STRATA_VECTOR_LIVE_CONNECTIONS = configured
    print(f"  two connections / one: {results[2] / results[1]:.2f}x rows/s")
    store.drop_collection(name)


def bench_worst(store: PostgresVectorStore, rows: int, queries_n: int, efs: list[int]) -> None:
    matrix = hashing_like(rows + queries_n)
    docs, queries = matrix[:rows], matrix[rows:]
    name = "bench-worst"
    n, wall, _, build_cpu = staged_load(store, name, "halfvec", [docs[i : i + CHUNK] for i in range(0, rows, CHUNK)])
    truth, _ = exact_truth(docs, queries)
    baseline = exact_cpu(docs, queries)
    print(
        f"\nWORST CASE (hashing-like sparse +/-1 vectors, not realistic): {n:,} rows, build "
        f"{n / max(build_cpu, 1e-9):,.0f} vectors per backend CPU-second"
    )
    configured = settings.STRATA_HNSW_EF_SEARCH
    for ef in efs:
        settings.STRATA_HNSW_EF_SEARCH = ef
        recall, p50, cpu, _ = run(store, name, queries, truth)
        print(
            f"  ef_search {ef:<4} recall@{K} {recall:.3f}  p50 {p50 * 1000:6.2f} ms  CPU {cpu * 1000:6.2f} ms/query "
            f"(numpy exact {baseline * 1000:.2f} ms)"
        )
    settings.STRATA_HNSW_EF_SEARCH = configured
    store.drop_collection(name)



def bench_million(store: PostgresVectorStore, space: LowRank, args: argparse.Namespace) -> None:
    rows, name = 1_000_000, "bench-million"
    queries = space.queries(min(args.queries, 100))
    truth, streamed_cpu = exact_streamed(space, rows, queries)
    print(f"\n1M: numpy exact (streamed, all queries per chunk): {streamed_cpu * 1000:.1f} ms CPU per query")
    store.drop_collection(name)
    store.create_collection(name, dimension=1536, model=MODEL, index="halfvec")
    load = store.bulk_load(name, model=MODEL, rows=rows)
    started, cpu0, done = time.monotonic(), cpu_now(), 0
    for matrix in space.chunks(rows, CHUNK):
        load.add(items(done, matrix))
        done += len(matrix)
    copy_wall, copy_cpu = time.monotonic() - started, cpu_now() - cpu0
    print(f"1M: COPY into the staged copy {copy_wall:.0f} s wall, {copy_cpu / rows * 1000:.3f} ms CPU/row")
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = %s", [f"{int(args.build_minutes)}min"])
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=build_progress, args=(stop, samples), daemon=True)
    sampler.start()
    build0, wall0 = backend_cpu(), time.monotonic()
    try:
        load.finish()
        fitted = True
    except Exception as error:  # noqa: BLE001 (the timeout: reported below)
        fitted = False
        print(f"1M: the build did not finish within {args.build_minutes} min ({type(error).__name__})")
    finally:
        stop.set()
        sampler.join(30)
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    build_wall, build_cpu = time.monotonic() - wall0, backend_cpu() - build0
    samples = [sample for sample in samples if sample[1] > 0]  # after the build the view is empty
    if samples:
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        rate = (n1 - n0) / max(t1 - t0, 1e-9)
        print(f"1M: build progress {n1:,} tuples after {t1 - wall0:.0f} s; {rate:,.0f} tuples/s wall between samples")
    print(
        f"1M: build {build_wall:.0f} s wall, {build_cpu:.0f} s backend CPU = "
        f"{(rows if fitted else samples[-1][1] if samples else 0) / max(build_cpu, 1e-9):,.0f} vectors per CPU-second "
        f"(maintenance_work_mem {settings.STRATA_HNSW_BUILD_MEMORY}, serial on pgvector < 0.8.2)"
    )
    if fitted:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE strata_vector")
        ef_sweep(store, name, queries, truth, args.ef, label="1M: ")
    store.drop_collection(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index", nargs="*", default=["halfvec", "binary"])
    parser.add_argument("--ef", type=int, nargs="*", default=[40, 60, 100])
    parser.add_argument("--no-filters", dest="filters", action="store_false")
    parser.add_argument(
        "--toasted", action="store_true", help="also the filtered searches over TOASTed vectors (before 0008)"
    )
    parser.add_argument("--switch", action="store_true", help="measure the switch point")
    parser.add_argument("--switch-base", type=int, default=20_000)
    parser.add_argument("--switch-rows", type=int, default=2_000)
    parser.add_argument("--live", type=int, default=0, help="live loads of N rows over 1 and 2 connections")
    parser.add_argument("--worst", type=int, default=0, help="also N hashing-like vectors (worst case)")
    parser.add_argument("--million", action="store_true", help="1M vectors (with STRATA_HNSW_BUILD_MEMORY=8GB)")
    parser.add_argument("--build-minutes", type=int, default=30)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    store = PostgresVectorStore()
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        version = cursor.fetchone()[0]
    print(
        f"pgvector {version}; maintenance_work_mem for builds {settings.STRATA_HNSW_BUILD_MEMORY}; "
        f"m={settings.STRATA_HNSW_M} ef_construction={settings.STRATA_HNSW_EF_CONSTRUCTION}"
    )
    space = LowRank()
    if args.rows:
        queries = space.queries(args.queries)
        args.matrix = np.vstack(list(space.chunks(args.rows, CHUNK)))
        truth, _ = exact_truth(args.matrix, queries)
        baseline = exact_cpu(args.matrix, queries)
        print(
            f"{args.rows:,} low-rank synthetic vectors (24 intrinsic dimensions in 1536), "
            f"{len(queries)} held-out queries"
        )
        if args.toasted and args.filters:
            bench_toasted(store, space, args.rows, queries, args)
        for index in args.index:
            bench_index(store, index, space, args.rows, queries, truth, baseline, args)
        del args.matrix
    if args.switch:
        bench_switch(store, space, args.switch_base, args.switch_rows)
    if args.live:
        bench_live(store, space, args.switch_base, args.live)
    if args.worst:
        bench_worst(store, args.worst, args.queries, [60, 200, 400])
    if args.million:
        bench_million(store, space, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
