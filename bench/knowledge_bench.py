"""Knowledge benchmark: graph_import of a generated dependency graph, the knowledge selectors'
traversals beside the same queries in Cypher, and graph-aware retrieval at 10,000 documents.

    ./strata bench knowledge [--nodes 60000 --edges 300000 --docs 10000 --samples 200]
                             [--import-only | --resolution | --retrieval-only]

In its own database (``STRATA_DB_NAME=strata_bench`` via ./strata) and its own workspace:

1. writes a JSON Lines file of ``--nodes`` package nodes and ``--edges`` DEPENDS_ON edges
   (targets skewed towards a popular minority, like a real dependency graph) and imports it with
   ``manage.py graph_import`` (parsing, rows, outbox events and the graph projection included):
   edges/s, wall and CPU;
2. times ``neighbours``, ``k_hop`` (2 and 3), ``dependents`` (reverse transitive, depth 3) and
   ``shortest_path`` through ``knowledge.selectors`` over ``--samples`` start nodes, and the same
   questions as Cypher (variable-length paths; AGE has no shortestPath, so the shortest path is
   the first hit of ``*1..n`` for growing n) on a few of them, with the ratio and whether they
   return the same nodes;
3. ingests ``--docs`` documents that mention packages (embedded with the hashing embedder),
   links them with MENTIONS edges (graph_import), and times ``graph_retrieve`` on questions that
   name two packages;
4. times entity resolution's name-or-alias lookup (bench/entity_resolution.py).

``--import-only`` runs step 1 alone (the import figure, e.g. at a smaller ``--edges``);
``--resolution`` steps 1 and 4 (e.g. ``--nodes 60000 --edges 1000 --resolution``);
``--retrieval-only`` steps 1 and 3 (the graph-aware retrieval figure).

Prints PASS/FAIL against the issue's targets: import >= 50,000 edges/s, each traversal p50 <= 5
ms, >= 100x faster than Cypher at depth 3, retrieval p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

import django  # noqa: E402

from bench.common import backend_cpu, ms, percentile, server_cpu, time_calls, verdict  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from bench.entity_resolution import bench_resolution  # noqa: E402
from content import bm25_workspaces  # noqa: E402
from content.services import IngestItem, document_ingest  # noqa: E402
from core import services as core_services  # noqa: E402
from core.models import Workspace  # noqa: E402
from knowledge import selectors, stores  # noqa: E402
from knowledge.retrieval import graph_retrieve  # noqa: E402

WORKSPACE_PREFIX = "knowledge-bench-"
TARGET_EDGES_PER_SECOND = 50_000
TARGET_P50_MS = 5.0
TARGET_SPEEDUP = 100.0
TARGET_RETRIEVAL_P50_MS = 50.0
CYPHER_SAMPLES = {"neighbours": 20, "2-hop": 10, "3-hop": 5, "reverse 3": 5, "shortest path": 5}


def cpu() -> float:
    return time.process_time()


def write_graph(path: Path, n_nodes: int, n_edges: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(n_nodes):
            line = {"kind": "node", "key": f"p{i}", "label": "Package", "properties": {"name": f"package {i}"}}
            out.write(json.dumps(line) + "\n")
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < n_edges:
            source, target = rng.randrange(n_nodes), int(n_nodes * rng.random() ** 2)
            if source != target and (source, target) not in pairs:
                pairs.add((source, target))
                out.write(
                    json.dumps({"kind": "edge", "source": f"p{source}", "target": f"p{target}", "label": "DEPENDS_ON"})
                    + "\n"
                )


def bench_import(workspace: Workspace, path: Path, n_edges: int, results: list) -> None:
    # graph_import writes through two sessions: the whole server's CPU (every backend, the WAL
    # writer, autovacuum), and this process's (every thread)
    load = open("/proc/loadavg").read().split()[0]  # noqa: SIM115
    wall, py, pg = time.perf_counter(), cpu(), server_cpu()
    call_command("graph_import", str(path), "--workspace", workspace.slug, stdout=io.StringIO(), stderr=io.StringIO())
    wall, py, pg = time.perf_counter() - wall, cpu() - py, server_cpu() - pg
    rate = n_edges / wall
    print(f"graph_import: {n_edges:,} edges in {wall:.1f} s = {rate:,.0f} edges/s end to end")
    print(
        f"  CPU: Python {py:.1f} s + PostgreSQL server {pg:.1f} s = {(py + pg) / n_edges * 1e6:.1f} us per edge "
        f"({py / n_edges * 1e6:.1f} + {pg / n_edges * 1e6:.1f}); load average {load} before, "
        f"{open('/proc/loadavg').read().split()[0]} after"  # noqa: SIM115
    )
    store = stores.graph()
    counted = store.cypher(
        "MATCH (a:Entity)-[e:DEPENDS_ON]->(b:Entity) WHERE a.workspace_id = $ws RETURN count(e)",
        {"ws": workspace.pk},
    )[0]["result"]
    results.append((f"import >= {TARGET_EDGES_PER_SECOND:,} edges/s", rate >= TARGET_EDGES_PER_SECOND))
    results.append((f"the graph holds the {n_edges:,} imported edges", counted == n_edges))


def _cypher(query: str, params: dict) -> list:
    return stores.graph().cypher(query, params, columns=("k",))


def questions(ws: int) -> dict:
    """name -> (selector call, cypher call) returning sets of local keys."""
    prefix = stores.prefix(ws)

    def keys(rows: list) -> set:
        return {r["k"][len(prefix) :] for r in rows}

    def nodes(found: list) -> set:
        return {n.key for n in found}

    return {
        "neighbours": (
            lambda k: nodes(selectors.neighbours(workspace_id=ws, key=k, direction="out", limit=2000)),
            lambda k: keys(
                _cypher("MATCH (a:Entity {key: $k})-[:DEPENDS_ON]->(b) RETURN DISTINCT b.key", {"k": prefix + k})
            ),
        ),
        "2-hop": (
            lambda k: nodes(selectors.k_hop(workspace_id=ws, key=k, k=2, direction="out")),
            lambda k: (
                keys(
                    _cypher(
                        "MATCH (a:Entity {key: $k})-[:DEPENDS_ON*1..2]->(b) RETURN DISTINCT b.key", {"k": prefix + k}
                    )
                )
                - {k}
            ),
        ),
        "3-hop": (
            lambda k: nodes(selectors.k_hop(workspace_id=ws, key=k, k=3, direction="out")),
            lambda k: (
                keys(
                    _cypher(
                        "MATCH (a:Entity {key: $k})-[:DEPENDS_ON*1..3]->(b) RETURN DISTINCT b.key", {"k": prefix + k}
                    )
                )
                - {k}
            ),
        ),
        "reverse 3": (
            lambda k: nodes(selectors.dependents(workspace_id=ws, key=k, depth=3)),
            lambda k: (
                keys(
                    _cypher(
                        "MATCH (b)-[:DEPENDS_ON*1..3]->(a:Entity {key: $k}) RETURN DISTINCT b.key", {"k": prefix + k}
                    )
                )
                - {k}
            ),
        ),
    }


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def bench_traversals(workspace: Workspace, n_nodes: int, samples: int, seed: int, results: list) -> None:
    rng = random.Random(seed + 1)
    print(f"\nload average before the traversals: {load_average()}")
    # sources uniform; "reverse" starts among the popular targets (they have dependents)
    starts = [f"p{rng.randrange(n_nodes)}" for _ in range(samples)]
    popular = [f"p{int(n_nodes * rng.random() ** 2)}" for _ in range(samples)]
    print(f"\ntraversals through knowledge.selectors, {samples} start nodes each (p50 / p95; CPU per call):")
    for name, (selector, cypher) in questions(workspace.pk).items():
        keys = popular if name == "reverse 3" else starts
        py, pg = cpu(), backend_cpu(missing_ok=True)
        times, answers = time_calls(selector, keys)
        py, pg = (cpu() - py) / (len(keys) + 3), (backend_cpu(missing_ok=True) - pg) / (len(keys) + 3)
        p50 = statistics.median(times)
        sample = keys[: CYPHER_SAMPLES[name]]
        cypher_times, same = [], True
        for key, answer in zip(sample, answers, strict=False):
            started = time.perf_counter()
            expected = cypher(key)
            cypher_times.append(time.perf_counter() - started)
            same &= expected == answer
        ratio = statistics.median(cypher_times) / statistics.median(times[: len(sample)])
        sizes = statistics.mean(len(a) for a in answers)
        print(
            f"  {name:13s} p50 {ms(p50)}  p95 {ms(percentile(times, 0.95))}  CPU Python {py * 1000:.2f} + "
            f"PostgreSQL {pg * 1000:.2f} ms  "
            f"({sizes:,.0f} nodes)   Cypher p50 {ms(statistics.median(cypher_times))} "
            f"({len(sample)} starts): {ratio:,.0f}x   same nodes: {same}"
        )
        results.append((f"{name} p50 <= {TARGET_P50_MS} ms", p50 * 1000 <= TARGET_P50_MS))
        results.append((f"{name}: the selector and Cypher return the same nodes", same))
        if name in ("3-hop", "reverse 3"):
            results.append((f"{name} >= {TARGET_SPEEDUP:.0f}x faster than Cypher", ratio >= TARGET_SPEEDUP))
    pairs = [(f"p{rng.randrange(n_nodes)}", f"p{int(n_nodes * rng.random() ** 2)}") for _ in range(samples)]
    py, pg = cpu(), backend_cpu(missing_ok=True)
    times, paths = time_calls(
        lambda pair: selectors.shortest_path(
            workspace_id=workspace.pk, source=pair[0], target=pair[1], max_depth=4, direction="out"
        ),
        pairs,
    )
    py, pg = (cpu() - py) / (len(pairs) + 3), (backend_cpu(missing_ok=True) - pg) / (len(pairs) + 3)
    cypher_times, same = [], True
    prefix = stores.prefix(workspace.pk)
    for (source, target), path in list(zip(pairs, paths, strict=True))[: CYPHER_SAMPLES["shortest path"]]:
        started, length = time.perf_counter(), None
        for n in range(1, 5):
            rows = stores.graph().cypher(
                f"MATCH p = (a:Entity {{key: $s}})-[:DEPENDS_ON*{n}]->(b:Entity {{key: $t}}) RETURN length(p) LIMIT 1",
                {"s": prefix + source, "t": prefix + target},
            )
            if rows:
                length = n
                break
        cypher_times.append(time.perf_counter() - started)
        same &= length == (len(path.edges) if path else None)
    p50 = statistics.median(times)
    found = sum(1 for p in paths if p)
    ratio = statistics.median(cypher_times) / statistics.median(times[: len(cypher_times)])
    print(
        f"  {'shortest path':13s} p50 {ms(p50)}  p95 {ms(percentile(times, 0.95))}  CPU Python {py * 1000:.2f} + "
        f"PostgreSQL {pg * 1000:.2f} ms  ({found}/{len(pairs)} found, <= 4)"
        f"   Cypher p50 {ms(statistics.median(cypher_times))} ({len(cypher_times)} pairs): {ratio:,.0f}x   "
        f"same length: {same}"
    )
    results.append((f"shortest path p50 <= {TARGET_P50_MS} ms", p50 * 1000 <= TARGET_P50_MS))
    results.append(("shortest path: the same length as Cypher", same))


def bench_retrieval(workspace: Workspace, n_nodes: int, n_docs: int, seed: int, results: list) -> None:
    rng = random.Random(seed + 2)
    words = "install version release wheel build import module runtime error update".split()
    started = time.perf_counter()
    for start in range(0, n_docs, 500):
        items = []
        for i in range(start, min(start + 500, n_docs)):
            text = " ".join(rng.choice(words) for _ in range(40)) + f" package {rng.randrange(n_nodes)}."
            items.append(IngestItem(external_id=f"d{i}", title=f"note {i}", text=text))
        document_ingest(workspace_id=workspace.pk, items=items, embed=True)
    # what the ingest events' handler does once a worker relays them (no worker runs here): the
    # workspace's own BM25 tables, analyzed (else the search ranks with the table-wide indexes
    # over every workspace of the bench database)
    bm25_workspaces.ensure(workspace.pk)
    bm25_workspaces.refresh_statistics(workspace.pk)
    print(f"\ningested {n_docs:,} documents (embedded) in {time.perf_counter() - started:.0f} s")
    lines = io.BytesIO(
        "\n".join(
            json.dumps(
                {
                    "kind": "edge",
                    "source": f"doc:d{i}",
                    "target": f"p{int(n_nodes * rng.random() ** 2)}",
                    "label": "MENTIONS",
                }
            )
            for i in range(n_docs)
        ).encode()
    )
    from knowledge.services import graph_import

    report = graph_import(stream=lines, name="mentions", workspace_id=workspace.pk)
    assert not report.errors, report.errors[:3]
    questions = [
        f"Which notes mention package {rng.randrange(200)} and package {rng.randrange(n_nodes)}?" for _ in range(100)
    ]
    py, pg = cpu(), backend_cpu(missing_ok=True)
    times, answers = time_calls(lambda q: graph_retrieve(workspace_id=workspace.pk, question=q), questions)
    py, pg = (cpu() - py) / (len(questions) + 3), (backend_cpu(missing_ok=True) - pg) / (len(questions) + 3)
    print(f"load average after the retrieval: {load_average()}")
    reached = sum(any(d.graph_score > 0 for d in answer.documents) for answer in answers)
    p50 = statistics.median(times)
    print(
        f"graph_retrieve at {n_docs:,} documents: p50 {ms(p50)}  p95 {ms(percentile(times, 0.95))}  "
        f"CPU Python {py * 1000:.1f} + PostgreSQL {pg * 1000:.1f} ms per question; "
        f"{reached}/{len(questions)} answers used the graph"
    )
    results.append((f"retrieval p50 <= {TARGET_RETRIEVAL_P50_MS} ms", p50 * 1000 <= TARGET_RETRIEVAL_P50_MS))


def cleanup(workspace: Workspace) -> None:
    started = time.perf_counter()
    with connection.cursor() as cursor:  # the bench's own graph rows (AGE label tables), then the rows
        for label in (stores.ENTITY_LABEL, stores.DOCUMENT_LABEL):
            if label in stores.graph().node_labels():
                stores.graph().cypher(
                    f"MATCH (n:{label}) WHERE n.workspace_id = $ws DETACH DELETE n RETURN count(*)",
                    {"ws": workspace.pk},
                )
        cursor.execute("SELECT 1")
    workspace.delete()
    print(f"cleaned up in {time.perf_counter() - started:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=60_000)
    parser.add_argument("--edges", type=int, default=300_000)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--import-only", action="store_true", help="time only graph_import (no traversals, no retrieval)"
    )
    parser.add_argument("--resolution", action="store_true", help="graph_import, then entity resolution only")
    parser.add_argument("--retrieval-only", action="store_true", help="graph_import, then graph_retrieve only")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"database {connection.settings_dict['NAME']!r}, graph {stores.graph()!r}")
    for leftover in Workspace.objects.filter(name__startswith=WORKSPACE_PREFIX):
        cleanup(leftover)
    user = get_user_model().objects.create_user(username=f"kbench-{os.getpid()}-{time.time_ns()}")
    workspace = core_services.workspace_create(name=f"{WORKSPACE_PREFIX}{os.getpid()}", owner=user)
    results: list[tuple[str, bool]] = []
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp, override_settings(STRATA_KNOWLEDGE_EXTRACTORS=[]):
            path = Path(tmp) / "graph.jsonl"
            write_graph(path, args.nodes, args.edges, args.seed)
            print(f"generated {args.nodes:,} nodes and {args.edges:,} edges ({path.stat().st_size / 1e6:.0f} MB)")
            bench_import(workspace, path, args.edges, results)
            if not (args.import_only or args.resolution or args.retrieval_only):
                bench_traversals(workspace, args.nodes, args.samples, args.seed, results)
            if not (args.import_only or args.resolution):
                bench_retrieval(workspace, args.nodes, args.docs, args.seed, results)
            if not (args.import_only or args.retrieval_only):
                bench_resolution(workspace.pk, args.nodes, args.samples, args.seed, results)
    finally:
        print()
        cleanup(workspace)
    print()
    for name, ok in results:
        print(f"{verdict(ok)}  {name}")
    print(f"\ntotal runtime {time.perf_counter() - started:.0f} s")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
