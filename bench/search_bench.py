"""Search relevance and latency benchmark on the standard-library corpus (bench/stdlib_corpus.py).

    ./strata bench search relevance [--providers hashing,sentence-transformers] [--no-calibrate]
    ./strata bench search study [--providers hashing,sentence-transformers]
    ./strata bench search latency [--docs 50000] [--queries 200] [--provider sentence-transformers] [--rebuild-bm25]
                                  [--query-runtimes onnx,onnx-int8,torch]

``relevance``: loads the corpus into one workspace per embedding provider (database
STRATA_DB_NAME, default ``strata_bench``; workspaces ``bench-stdlib-<provider>`` are kept for the
next run, ingest is idempotent), calibrates the provider's relevance floor on nonsense queries
(random letter strings: the floor is above their best semantic match), and reports the known-item
evaluation (``content.evaluation``, as ``manage.py search_eval``) of the defaults on the held-out
split next to the corpus's own TF-IDF baseline.

``study``: how the defaults were chosen (bench/search_study.py): single modes, HNSW vs exact
recall, and each fusion method with its parameters tuned on the tuning split, reported on the
held-out split.

``latency``: bench/search_latency.py: p50/p95 wall time and CPU per query (this process and the
database backend) for each mode at ``--docs`` documents, uncached, every query encoded afresh.
Targets: semantic p50 <= 15 ms (MiniLM query encoding included), BM25 p50 <= 10 ms, hybrid p50 <= 25 ms.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import string
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.setdefault("STRATA_DB_NAME", "strata_bench")

import django  # noqa: E402

from bench import stdlib_corpus  # noqa: E402
from bench.common import percentile, verdict  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402

from bench import search_latency, search_study  # noqa: E402
from content import bm25, bm25_workspaces, fulltext, selectors, services  # noqa: E402
from content.embeddings import get_embedder, relevance_floor  # noqa: E402
from content.evaluation import KnownItem, evaluate, format_table  # noqa: E402
from core import services as core_services  # noqa: E402
from core.models import Workspace  # noqa: E402


def workspace_for(name: str) -> Workspace:
    workspace = Workspace.objects.filter(name=name).first()
    if workspace is None:
        user = get_user_model().objects.create_user(username=f"bench-{name}-{time.time_ns()}")
        workspace = core_services.workspace_create(name=name, owner=user)
    return workspace


def load(workspace: Workspace, documents: list[dict], provider: str, batch: int = 500) -> None:
    started = time.perf_counter()
    counts = {"added": 0, "updated": 0, "unchanged": 0, "failed": 0}
    with override_settings(STRATA_EMBEDDING_PROVIDER=provider):
        for start in range(0, len(documents), batch):
            items = [
                services.IngestItem(d["external_id"], d["title"], d["text"], metadata=d.get("metadata") or {})
                for d in documents[start : start + batch]
            ]
            report = services.document_ingest(workspace_id=workspace.pk, items=items, embed=True)
            for key, value in report.counts.items():
                counts[key] += value
    print(f"  loaded {workspace.slug} ({provider}): {counts} in {time.perf_counter() - started:.0f} s")


def nonsense_queries(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))

    return [" ".join(word() for _ in range(rng.randint(1, 3))) for _ in range(count)]


def calibrate_floor(workspace: Workspace, items: list[KnownItem], seed: int) -> float:
    """The smallest floor (0.01 steps) above every nonsense query's best semantic match; reports how
    many known items keep their target above it."""
    model = services.workspace_embedding_model(workspace_id=workspace.pk)
    with override_settings(STRATA_RELEVANCE_FLOORS={model: -1.0}):
        best = []
        for query in nonsense_queries(200, seed):
            hits = selectors.search(workspace_id=workspace.pk, query=query, mode="semantic", limit=1, use_cache=False)
            best.append(hits[0].similarity if hits else -1.0)
        target_scores = []
        for item in items:
            hits = selectors.search(
                workspace_id=workspace.pk, query=item.query, mode="semantic", limit=10, use_cache=False
            )
            found = [h.similarity for h in hits if h.external_id == item.external_id]
            target_scores.append(found[0] if found else None)
    floor = (int(max(best) * 100) + 1) / 100
    found = [s for s in target_scores if s is not None]
    kept = sum(1 for s in found if s >= floor)
    print(
        f"  nonsense best-match similarity: p50 {percentile(best, 0.5):.3f}, p99 {percentile(best, 0.99):.3f}, "
        f"max {max(best):.3f} -> floor {floor:.2f}; known items in the semantic top 10: {len(found)}, "
        f"{kept} of them at or above the floor (target similarity p50 {percentile(found, 0.5):.3f})"
    )
    return floor


def relevance(args: argparse.Namespace) -> int:
    documents, items = stdlib_corpus.build(seed=args.seed)
    tune = [KnownItem(i["query"], i["external_id"]) for i in items[: args.tune]]
    test = [KnownItem(i["query"], i["external_id"]) for i in items[args.tune : args.tune + args.test]]
    print(
        f"corpus: Python {sys.version.split()[0]} standard library, {len(documents)} documents; "
        f"{len(tune)} tuning and {len(test)} held-out known items; full-text ranking {fulltext.active_ranking()}"
    )
    baseline = {}
    try:
        baseline = stdlib_corpus.tfidf_baseline(
            documents, [{"query": i.query, "external_id": i.external_id} for i in test]
        )
        print(f"TF-IDF baseline (unigrams+bigrams, cosine), held-out: {baseline}")
    except ImportError:
        print('TF-IDF baseline skipped: pip install -e ".[bench]"')
    ok = True
    for provider in args.providers.split(","):
        print(f"\n== {provider}")
        workspace = workspace_for(f"bench-stdlib-{provider}")
        load(workspace, documents, provider)
        model = services.workspace_embedding_model(workspace_id=workspace.pk)
        if args.calibrate:
            calibrate_floor(workspace, tune, args.seed)
        results = evaluate(workspace_id=workspace.pk, items=test)
        floor = relevance_floor(get_embedder(provider))
        print(f"  held-out split, defaults (floor {floor:.2f}, model {model}):")
        print("  " + format_table(results).replace("\n", "\n  "))
        by_mode = {r.mode: r.mrr for r in results}
        if provider == "hashing" and baseline:
            beats = by_mode["hybrid"] > baseline["mrr@10"] and by_mode["hybrid"] > max(
                by_mode["semantic"], by_mode["fulltext"]
            )
            print(f"  {verdict(beats)}  hybrid beats TF-IDF ({baseline['mrr@10']:.3f}) and each single mode")
            ok &= beats
        elif provider == "sentence-transformers":
            beats = by_mode["hybrid"] > by_mode["semantic"]
            print(f"  {verdict(beats)}  hybrid beats MiniLM alone")
            ok &= beats
    return 0 if ok else 1


def run_study(args: argparse.Namespace) -> int:
    """Fusion methods and parameters compared offline (bench/search_study.py), tuned on the tuning
    split, reported on the held-out split."""
    documents, items = stdlib_corpus.build(seed=args.seed)
    tune = [KnownItem(i["query"], i["external_id"]) for i in items[: args.tune]]
    test = [KnownItem(i["query"], i["external_id"]) for i in items[args.tune : args.tune + args.test]]
    for provider in args.providers.split(","):
        print(f"\n== {provider}")
        workspace = workspace_for(f"bench-stdlib-{provider}")
        load(workspace, documents, provider)
        search_study.report(workspace.pk, tune, test)
        if provider == "hashing":
            search_study.hashing_variants(workspace.pk, tune, test)
    return 0


def latency(args: argparse.Namespace) -> int:
    """Latency per mode at ``--docs`` documents (bench/search_latency.py)."""
    cached = search_latency.install_vector_cache(args.provider)
    documents, items = stdlib_corpus.build(seed=args.seed)
    workspace = workspace_for(f"bench-latency-{args.provider}-{args.docs}")
    started = time.process_time()
    load(workspace, search_latency.synthetic_documents(documents, args.docs, args.seed, args.unique), args.provider)
    with connection.cursor() as cursor:  # fresh statistics, as autovacuum would have after a bulk load
        cursor.execute("ANALYZE content_chunk, content_document, strata_vector")
    # the workspace's own BM25 indexes, as the outbox handler of its first ingest gives it in production
    # (no worker runs here); without them full-text ranks with the table-wide indexes
    bm25_workspaces.forget()
    own = bm25_workspaces.ensure(workspace.pk)
    if args.rebuild_bm25:  # as `manage.py fulltext_index --rebuild` after a bulk load
        rebuild_started = time.perf_counter()
        done = bm25.ensure_indexes(rebuild=True) + ([] if own else bm25_workspaces.ensure(workspace.pk, rebuild=True))
        print(f"  {', '.join(done) or 'nothing to rebuild'} in {time.perf_counter() - rebuild_started:.1f} s")
    print(
        f"  vectors: {cached.hits} from the disk cache, {cached.misses} encoded; load CPU (this process) "
        f"{time.process_time() - started:.0f} s"
    )
    if cached.misses:
        cached.save()
    print(f"\n{args.docs} documents, {args.provider}")
    runtimes = [r for r in args.query_runtimes.split(",") if r]
    ok = search_latency.measure(workspace.pk, [i["query"] for i in items[: args.queries]], args.provider, runtimes)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    study = sub.add_parser("study")
    study.add_argument("--providers", default="hashing,sentence-transformers")
    study.add_argument("--tune", type=int, default=500)
    study.add_argument("--test", type=int, default=500)
    rel = sub.add_parser("relevance")
    rel.add_argument("--providers", default="hashing,sentence-transformers")
    rel.add_argument("--tune", type=int, default=500)
    rel.add_argument("--test", type=int, default=500)
    rel.add_argument("--no-calibrate", dest="calibrate", action="store_false")
    lat = sub.add_parser("latency")
    lat.add_argument("--docs", type=int, default=50_000)
    lat.add_argument("--queries", type=int, default=200)
    lat.add_argument("--unique", type=int, default=12_500, help="distinct texts (replicated up to --docs)")
    lat.add_argument("--rebuild-bm25", action="store_true", help="REINDEX the BM25 indexes after loading")
    lat.add_argument("--provider", default="sentence-transformers")
    lat.add_argument(
        "--query-runtimes",
        default="onnx,torch",
        help="MiniLM query runtimes measured side by side (onnx, onnx-int8, torch)",
    )
    for p in (rel, lat, study):
        p.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("content").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    print(f"database {connection.settings_dict['NAME']!r}")
    with tempfile.TemporaryDirectory():
        return {"relevance": relevance, "latency": latency, "study": run_study}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
