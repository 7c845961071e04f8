"""Graph benchmark: the AGE adapter against the FalkorDB adapter, the same calls side by side.

    ./strata bench graph [--shape debian|generated] [--starts 30] [--repeat 3]

Loads one graph through both adapters' ``bulk_load`` (Debian's package dependency graph from
this machine's apt lists when there are any, else a generated graph of the same shape: see
``graph_shapes.py``), then runs each scenario ALTERNATING the two adapters on the same start
nodes (which one goes first alternates too) and checks that their answers are equal: node sets
with depths, ordered lists, path lengths. It prints p50/p95 per adapter, the AGE ÷ FalkorDB
ratio of the p50s, and CPU time per call (client, and the server process: the PostgreSQL
backend or FalkorDB's redis-server). Then it loads the same graph again into AGE and reports the
rows that second load changed and the size on disk, and PASS/FAIL against the targets of issue
13. Traversals ask for ids and keys only (``properties=False``), like the engine's own queries.

The AGE graph lives in its own database (STRATA_DB_NAME, ``strata_bench`` via ``./strata
bench``) and FalkorDB's in the embedded FalkorDB of this data dir; both are dropped at the end.
Run it under ``flock /work/coord/bench.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench import graph_measure as measure  # noqa: E402
from bench import graph_native as native  # noqa: E402
from bench.common import verdict  # noqa: E402
from bench.graph_shapes import DEPENDS, EDGE_TYPES, LABEL, Shape, debian, generated  # noqa: E402
from core.storage.falkordb import FalkorGraphStore  # noqa: E402
from core.storage.ports import GraphStore, NodeRef  # noqa: E402
from core.storage.postgres.age import AgeGraphStore  # noqa: E402

TARGETS = {"hops": 1.5, "hub": 1.5, "path": 2.0}
DEP = [DEPENDS]


def prepare(store: GraphStore) -> None:
    store.drop_graph()
    store.define_node_label(LABEL)
    for edge_type in EDGE_TYPES:
        store.define_edge_type(edge_type)


def load(store: GraphStore, shape: Shape) -> tuple[float, float]:
    started = time.perf_counter()
    store.bulk_load(nodes=shape.nodes)
    node_seconds = time.perf_counter() - started
    started = time.perf_counter()
    store.bulk_load(edges=shape.edges)
    return len(shape.nodes) / node_seconds, len(shape.edges) / (time.perf_counter() - started)


class Bench:
    def __init__(self, age: AgeGraphStore, falkor: FalkorGraphStore) -> None:
        self.stores = {"AGE": age, "FalkorDB": falkor}
        self.pids = {"AGE": measure.postgres_backend_pid(), "FalkorDB": measure.falkordb_pid()}
        self.results: list[tuple[str, bool]] = []
        self.ratios: dict[str, float] = {}

    def scenario(
        self,
        name: str,
        starts: list[Any],
        call: Callable[[GraphStore, Any], Any],
        answer: Callable[[Any], Any],
        repeat: int,
        target: str | None = None,
        native: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None,
    ) -> None:
        """Time ``call(store, start)`` on both adapters, alternating; count unequal answers.
        ``native`` = (FalkorDB's own query for a start, the adapters' answer projected to what it
        returns): timed in the same rotation as a reference."""
        calls_by = {label: (lambda r, s=store: call(s, r)) for label, store in self.stores.items()}
        if native is not None:
            calls_by["native"] = native[0]
        series = {label: measure.Series() for label in calls_by}
        for start in starts[:2]:  # warm up: compose and prepare the statements, fill the caches
            for function in calls_by.values():
                function(start)
        mismatches = sizes = native_wrong = 0
        labels = list(calls_by)
        for round_no in range(repeat):
            for index, start in enumerate(starts):
                shift = (index + round_no) % len(labels)
                answers = {}
                for label in labels[shift:] + labels[:shift]:
                    pid = self.pids["AGE" if label == "AGE" else "FalkorDB"]
                    answers[label] = series[label].call(lambda f=calls_by[label], r=start: f(r), pid)
                if native is not None:
                    native_wrong += answers.pop("native") != native[1](answer(answers["AGE"]))
                answers = {label: answer(value) for label, value in answers.items()}
                mismatches += answers["AGE"] != answers["FalkorDB"]
                sizes += len(answers["AGE"]) if isinstance(answers["AGE"], (set, list, tuple)) else 0
        age, falkor = series["AGE"], series["FalkorDB"]
        ratio = age.p50 / falkor.p50
        self.ratios[name] = ratio
        calls = len(age.wall)
        print(f"\n{name}  ({len(starts)} starts x {repeat}, {sizes / calls:,.0f} results per call on average)")
        for label, s in series.items():
            if label == "native":
                continue
            client, server = s.cpu_per_call()
            print(
                f"  {label:9s} p50 {s.p50 * 1000:9.2f} ms  p95 {s.p95 * 1000:9.2f} ms   "
                f"CPU/call client {client * 1000:7.2f} ms + server {server * 1000:7.2f} ms"
            )
        print(f"  AGE ÷ FalkorDB (p50): {ratio:.2f}x   answers equal on {calls - mismatches}/{calls} calls")
        if native is not None:
            print(
                f"  (reference: FalkorDB's own Cypher p50 {series['native'].p50 * 1000:.2f} ms, AGE ÷ it "
                f"{age.p50 / series['native'].p50:.2f}x; it differs from the adapters on {native_wrong}/{calls} calls)"
            )
        self.results.append((f"{name}: same answers on both adapters", mismatches == 0))
        if target is not None:
            self.results.append(
                (f"{name}: AGE ÷ FalkorDB p50 {ratio:.2f}x <= {TARGETS[target]}x", ratio <= TARGETS[target])
            )


def hop_answer(hops: list) -> set:
    return {(hop.node.label, hop.node.key, hop.depth) for hop in hops}


def node_answer(nodes: list) -> list:
    return [(node.label, node.key) for node in nodes]


def all_pages(store: GraphStore, ref: NodeRef, limit: int = 5000) -> list:
    items, after = [], None
    while True:
        page = store.neighbours_page(ref, direction="in", edge_types=DEP, after=after, limit=limit, properties=False)
        items.extend(page.items)
        if page.next_cursor is None:
            return sorted((node.label, node.key) for node in items)
        after = page.next_cursor


def path_pairs(age: AgeGraphStore, keys: list[str], rng: random.Random, count: int) -> list[tuple[NodeRef, NodeRef]]:
    """Reachable (source, target) pairs 2-5 DEPENDS edges apart, targets drawn from the far end."""
    pairs = []
    while len(pairs) < count:
        source = NodeRef(LABEL, rng.choice(keys))
        far = [hop for hop in age.k_hop(source, k=5, edge_types=DEP, properties=False) if hop.depth >= 2]
        if far:
            deepest = max(hop.depth for hop in far)
            pairs.append((source, rng.choice([hop for hop in far if hop.depth >= min(deepest, 3)]).node.ref))
    return pairs


def path_answer(path: Any) -> tuple:
    return (path.length,) if path is not None else (None,)


def keys_of_hops(answer: set) -> set:
    return {(label, key) for label, key, _ in answer}


def run_traversals(bench: Bench, shape: Shape, args: argparse.Namespace) -> None:
    falkor = bench.stores["FalkorDB"]
    rng = random.Random(args.seed)
    keys = [node.key for node in shape.nodes]
    starts = [NodeRef(LABEL, key) for key in rng.sample(keys, args.starts)]
    for k in (1, 2, 3):
        bench.scenario(
            f"{k}-hop outgoing DEPENDS",
            starts,
            lambda s, r, k=k: s.k_hop(r, k=k, edge_types=DEP, properties=False),
            hop_answer,
            args.repeat,
            "hops",
            (native.reach(falkor, k, "out", DEPENDS), keys_of_hops),
        )
    bench.scenario(
        "1-hop outgoing with properties",
        starts,
        lambda s, r: s.k_hop(r, k=1, edge_types=DEP),
        lambda hops: sorted((h.node.key, sorted(h.node.properties.items())) for h in hops),
        args.repeat,
    )
    bench.scenario(
        "reverse 1 hop (neighbours in)",
        starts,
        lambda s, r: s.neighbours(r, direction="in", edge_types=DEP, properties=False),
        node_answer,
        args.repeat,
        "hops",
        (native.reach(falkor, 1, "in", DEPENDS), set),
    )
    bench.scenario(
        "reverse transitive, depth 3",
        starts,
        lambda s, r: s.k_hop(r, k=3, direction="in", edge_types=DEP, properties=False),
        hop_answer,
        args.repeat,
        "hops",
        (native.reach(falkor, 3, "in", DEPENDS), keys_of_hops),
    )
    hub = max(shape.nodes, key=lambda n: shape.in_degree.get(n.key, 0))
    print(f"\nhub: {hub.key} with {shape.in_degree[hub.key]:,} incoming {DEPENDS} edges")
    hub_ref = [hub.ref]
    bench.scenario(
        f"hub {hub.key}: every incoming neighbour, one call",
        hub_ref,
        lambda s, r: s.neighbours(r, direction="in", edge_types=DEP, properties=False),
        node_answer,
        args.hub_repeat,
        "hub",
        (native.reach(falkor, 1, "in", DEPENDS), set),
    )
    bench.scenario(
        f"hub {hub.key}: the same in pages of 5,000 (neighbours_page)",
        hub_ref,
        all_pages,
        lambda pairs: pairs,
        args.hub_repeat,
        "hub",
    )
    second = sorted(shape.in_degree, key=shape.in_degree.get, reverse=True)[args.mid_hub_rank]
    bench.scenario(
        f"{second} ({shape.in_degree[second]:,} incoming): within 3 hops incoming",
        [NodeRef(LABEL, second)],
        lambda s, r: s.k_hop(r, k=3, direction="in", edge_types=DEP, properties=False),
        hop_answer,
        args.hub_repeat,
        "hub",
        (native.reach(falkor, 3, "in", DEPENDS), keys_of_hops),
    )
    pairs = path_pairs(bench.stores["AGE"], keys, rng, args.paths)
    bench.scenario(
        f"shortest path, {len(pairs)} reachable pairs (DEPENDS, max_depth 6)",
        pairs,
        lambda s, pair: s.shortest_path(pair[0], pair[1], edge_types=DEP, properties=False),
        path_answer,
        args.repeat,
        "path",
        (native.shortest(falkor, "out", DEPENDS), lambda length: length),
    )
    bench.scenario(
        "shortest path, the same pairs in any direction (all edge types)",
        pairs,
        lambda s, pair: s.shortest_path(pair[0], pair[1], direction="both", properties=False),
        path_answer,
        args.repeat,
        "path",  # no native reference: FalkorDB's shortestPath does not take undirected patterns
    )


def run_second_load(bench: Bench, age: AgeGraphStore, falkor: FalkorGraphStore, shape: Shape) -> None:
    size = measure.graph_bytes(age.graph)
    started = time.perf_counter()
    with transaction.atomic():
        age.bulk_load(nodes=shape.nodes, edges=shape.edges)
        writes = measure.label_writes(age.graph)
    age_seconds = time.perf_counter() - started
    started = time.perf_counter()
    falkor.bulk_load(nodes=shape.nodes, edges=shape.edges)
    falkor_seconds = time.perf_counter() - started
    after, dead = measure.graph_bytes(age.graph), measure.dead_rows(age.graph)
    print(f"\nsecond identical load: AGE {age_seconds:.1f} s, FalkorDB {falkor_seconds:.1f} s")
    print(f"  AGE rows written: {writes}; dead rows {dead:,}; size {size / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")
    bench.results.append(("a second identical load changes 0 rows", sum(writes.values()) == 0))
    bench.results.append(("a second identical load leaves the size on disk as it was", after <= size * 1.01))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["debian", "generated"], default="debian")
    parser.add_argument("--starts", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hub-repeat", type=int, default=5)
    parser.add_argument("--mid-hub-rank", type=int, default=8, help="which hub (by in-degree rank) to walk 3 hops from")
    parser.add_argument("--paths", type=int, default=10)
    parser.add_argument("--graph", default="strata_bench")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep both graphs at the end")
    args = parser.parse_args()
    if args.graph == settings.STRATA_GRAPH_NAME:
        parser.error(f"refusing to use (and drop) the project graph {args.graph!r}; pick another --graph")
    shape = (debian() if args.shape == "debian" else None) or generated()
    print(f"graph: {shape.name}: {len(shape.nodes):,} nodes, {len(shape.edges):,} edges")
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS age")
    age, falkor = AgeGraphStore(graph=args.graph), FalkorGraphStore(graph=args.graph)
    print(f"AGE graph {args.graph!r} in database {connection.settings_dict['NAME']!r}; FalkorDB graph {args.graph!r}")
    bench = Bench(age, falkor)
    try:
        for label, store in bench.stores.items():
            prepare(store)
            nodes_per_second, edges_per_second = load(store, shape)
            print(f"load {label:9s}: {nodes_per_second:10,.0f} nodes/s   {edges_per_second:10,.0f} edges/s")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # what autovacuum does after a load (visibility map, statistics)
        run_traversals(bench, shape, args)
        run_second_load(bench, age, falkor, shape)
    finally:
        if not args.keep:
            for store in bench.stores.values():
                store.drop_graph()
    print()
    for name, ok in bench.results:
        print(f"{verdict(ok)}  {name}")
    return 0 if all(ok for _, ok in bench.results) else 1


if __name__ == "__main__":
    sys.exit(main())
