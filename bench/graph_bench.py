"""Graph benchmark: GraphStore.bulk_load and SQL k-hop traversals vs Cypher variable-length paths.

    STRATA_DB_NAME=strata_bench python bench/graph_bench.py [--nodes 50000 --edges 300000]

Builds a random directed graph (every node gets ~edges/nodes outgoing edges; targets are skewed
towards a popular minority, like a dependency graph) in its own AGE graph (default
``strata_bench``, dropped at the end), loads it through ``GraphStore.bulk_load``, then times
``GraphStore.k_hop`` for k = 1, 2, 3 against the same query written as a Cypher
variable-length path, checks that both return the same nodes, and prints PASS/FAIL against
the targets. Use a separate database (STRATA_DB_NAME) so the bench never touches real data.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

import django  # noqa: E402

from bench.common import ms, percentile, timed, verdict  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from core.storage.ports import Edge, Node, NodeRef  # noqa: E402
from core.storage.postgres.age import AgeGraphStore  # noqa: E402

LABEL, EDGE_TYPE = "L", "T"
TARGET_EDGES_PER_SECOND = 50_000
TARGET_3HOP_P50_MS = 5.0
TARGET_SPEEDUP = 100.0
CYPHER_REPETITIONS = {1: 20, 2: 10, 3: 8}  # Cypher variable-length paths take seconds each here
CYPHER = "MATCH (a:L {key: $k})-[:T*1..%d]->(b) RETURN DISTINCT b.key"


def generate(n_nodes: int, n_edges: int, seed: int) -> tuple[list[Node], list[Edge]]:
    """Distinct edges without self-loops; sources uniform, targets skewed (u**2 favours low ids)."""
    rng = random.Random(seed)
    nodes = [Node(LABEL, f"n{i}", {"name": f"node {i}", "group": i % 97}) for i in range(n_nodes)]
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < n_edges:
        source, target = rng.randrange(n_nodes), int(n_nodes * rng.random() ** 2)
        if source != target:
            pairs.add((source, target))
    edges = [
        Edge(EDGE_TYPE, NodeRef(LABEL, f"n{s}"), NodeRef(LABEL, f"n{t}"), {"w": (s * 31 + t) % 100})
        for s, t in sorted(pairs)
    ]
    return nodes, edges


def prepare(store: AgeGraphStore) -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS age")
    store.drop_graph()
    store.ensure_graph()
    store.define_node_label(LABEL)
    store.define_edge_type(EDGE_TYPE)


def load(store: AgeGraphStore, nodes: list[Node], edges: list[Edge]) -> tuple[float, float]:
    node_seconds, result = timed(lambda: store.bulk_load(nodes=nodes))
    assert result.nodes == len(nodes), result
    edge_seconds, result = timed(lambda: store.bulk_load(edges=edges))
    assert result.edges == len(edges), result
    return len(nodes) / node_seconds, len(edges) / edge_seconds


def bench_k_hop(store: AgeGraphStore, starts: list[str], k: int) -> tuple[list[float], float]:
    """k_hop timings over the start nodes, and the mean number of nodes found."""
    for key in starts[:5]:  # warm the caches
        store.k_hop(NodeRef(LABEL, key), k=k)
    times, sizes = [], []
    for key in starts:
        seconds, hops = timed(lambda key=key: store.k_hop(NodeRef(LABEL, key), k=k))
        times.append(seconds)
        sizes.append(len(hops))
    return times, statistics.mean(sizes)


def compare_with_cypher(store: AgeGraphStore, starts: list[str], k: int) -> tuple[list[float], list[float], bool]:
    """Time k_hop and the Cypher query on the same start nodes; True when every node set matches."""
    sql_times, cypher_times, same = [], [], True
    for key in starts:
        sql_seconds, hops = timed(lambda key=key: store.k_hop(NodeRef(LABEL, key), k=k))
        cypher_seconds, rows = timed(lambda key=key: store.cypher(CYPHER % k, {"k": key}, columns=["key"]))
        sql_times.append(sql_seconds)
        cypher_times.append(cypher_seconds)
        same &= {hop.node.key for hop in hops} == {row["key"] for row in rows}
    return sql_times, cypher_times, same


def run_load(store: AgeGraphStore, nodes: list[Node], edges: list[Edge]) -> list[tuple[str, bool]]:
    nodes_per_second, edges_per_second = load(store, nodes, edges)
    print(f"bulk_load nodes: {nodes_per_second:12,.0f} nodes/s")
    print(f"bulk_load edges: {edges_per_second:12,.0f} edges/s")
    [counted] = store.cypher("MATCH (:L)-[e:T]->(:L) RETURN count(e)")
    return [
        (f"bulk load >= {TARGET_EDGES_PER_SECOND:,} edges/s", edges_per_second >= TARGET_EDGES_PER_SECOND),
        (f"Cypher counts the {len(edges):,} loaded edges", counted["result"] == len(edges)),
    ]


def run_k_hop(store: AgeGraphStore, starts: list[str]) -> list[tuple[str, bool]]:
    print(f"\nk_hop over {len(starts)} start nodes (SQL over the AGE label tables):")
    p50 = {}
    for k in (1, 2, 3):
        times, mean_size = bench_k_hop(store, starts, k)
        p50[k] = statistics.median(times)
        print(f"  k={k}: p50 {ms(p50[k])}   p95 {ms(percentile(times, 0.95))}   ({mean_size:,.0f} nodes on average)")
    return [(f"3-hop p50 <= {TARGET_3HOP_P50_MS} ms", p50[3] * 1000 <= TARGET_3HOP_P50_MS)]


def run_cypher(store: AgeGraphStore, starts: list[str]) -> list[tuple[str, bool]]:
    print("\nthe same query as a Cypher variable-length path, on the same start nodes:")
    print(f"  {CYPHER % 3!r} (k = 1, 2, 3)")
    results = []
    for k in (1, 2, 3):
        sql_times, cypher_times, same = compare_with_cypher(store, starts[: CYPHER_REPETITIONS[k]], k)
        ratio = statistics.median(cypher_times) / statistics.median(sql_times)
        print(
            f"  k={k} ({len(sql_times):2d} starts): k_hop p50 {ms(statistics.median(sql_times))}   "
            f"cypher p50 {ms(statistics.median(cypher_times))}   k_hop is {ratio:,.0f}x faster   same nodes: {same}"
        )
        results.append((f"k={k}: k_hop and Cypher return the same nodes", same))
        if k == 3:
            results.append((f"3-hop >= {TARGET_SPEEDUP:.0f}x faster than Cypher", ratio >= TARGET_SPEEDUP))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--edges", type=int, default=300_000)
    parser.add_argument("--samples", type=int, default=200, help="start nodes for the k_hop percentiles")
    parser.add_argument("--graph", default="strata_bench")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="do not drop the graph at the end")
    args = parser.parse_args()
    if args.graph == settings.STRATA_GRAPH_NAME:
        parser.error(f"refusing to use (and drop) the project graph {args.graph!r}; pick another --graph")

    store = AgeGraphStore(graph=args.graph)
    print(f"database {connection.settings_dict['NAME']!r}, graph {args.graph!r}")
    nodes, edges = generate(args.nodes, args.edges, args.seed)
    print(f"generated {len(nodes):,} nodes and {len(edges):,} edges")
    rng = random.Random(args.seed + 1)
    starts = [f"n{rng.randrange(args.nodes)}" for _ in range(args.samples)]
    prepare(store)
    try:
        results = run_load(store, nodes, edges) + run_k_hop(store, starts) + run_cypher(store, starts)
    finally:
        if not args.keep:
            store.drop_graph()
    print()
    for name, ok in results:
        print(f"{verdict(ok)}  {name}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
