"""Graph contract: what large graphs need. Traversals without properties, hubs streamed a page at
a time, a cap on the work of one shortest_path, and traversals checked against a reference
breadth-first search on random graphs full of converging paths (FalkorDB 4's
``[*1..k] RETURN DISTINCT`` lost nodes there, upstream issue #2157)."""

from __future__ import annotations

import itertools
import random
from collections import deque

import pytest
from django.test import override_settings

from core.storage.ports import Edge, InvalidInput, Node, NodeNotFound, NodeRef, TraversalTooLarge
from tests.contracts.graph_data import ALICE, ERIN, GraphFixtures, edge_triples, hops, refs


def bare(node: Node) -> Node:
    return Node(node.label, node.key, {})


def reference_depths(links: set[tuple[str, str]], start: str, k: int, direction: str) -> dict[str, int]:
    """Shortest depth (1..k) of every node reachable from ``start``, by a plain BFS."""
    step: dict[str, set[str]] = {}
    for source, target in links:
        if direction in ("out", "both"):
            step.setdefault(source, set()).add(target)
        if direction in ("in", "both"):
            step.setdefault(target, set()).add(source)
    depths = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if depths[node] == k:
            continue
        for other in sorted(step.get(node, ())):
            if other not in depths:
                depths[other] = depths[node] + 1
                queue.append(other)
    del depths[start]
    return depths


def layered_graph(seed: int) -> tuple[list[str], set[tuple[str, str]]]:
    """Five layers of 8 nodes; each node links to 2-4 nodes of the next layer and sometimes two
    layers down, so many paths of different lengths converge on the same nodes."""
    rng = random.Random(seed)
    layers = [[f"l{layer}n{i}" for i in range(8)] for layer in range(5)]
    links: set[tuple[str, str]] = set()
    for depth, layer in enumerate(layers[:-1]):
        for node in layer:
            for target in rng.sample(layers[depth + 1], rng.randint(2, 4)):
                links.add((node, target))
            if depth + 2 < len(layers) and rng.random() < 0.3:
                links.add((node, rng.choice(layers[depth + 2])))
    return [key for layer in layers for key in layer], links


class GraphScaleCases(GraphFixtures):
    # ------------------------------------------------------------ properties=False

    def test_traversals_without_properties_return_the_same_nodes_bare(self, social):
        assert social.neighbours(ALICE, properties=False) == [bare(n) for n in social.neighbours(ALICE)]
        with_props = social.k_hop(ALICE, k=3, direction="both")
        assert hops(social.k_hop(ALICE, k=3, direction="both", properties=False)) == hops(with_props)
        assert all(hop.node.properties == {} for hop in social.k_hop(ALICE, k=3, properties=False))
        graph = social.subgraph(ALICE, depth=2, properties=False)
        assert refs(graph.nodes) == refs(social.subgraph(ALICE, depth=2).nodes)
        assert all(n.properties == {} for n in graph.nodes) and all(e.properties == {} for e in graph.edges)
        path = social.shortest_path(ALICE, ERIN, properties=False)
        assert [bare(n) for n in social.shortest_path(ALICE, ERIN).nodes] == path.nodes
        assert edge_triples(path.edges) == [
            ("KNOWS", "alice", "carol"),
            ("KNOWS", "carol", "dave"),
            ("KNOWS", "dave", "erin"),
        ]
        assert all(edge.properties == {} for edge in path.edges)
        for bad in (None, 0, "no", 1):
            with pytest.raises(InvalidInput):
                social.neighbours(ALICE, properties=bad)
            with pytest.raises(InvalidInput):
                social.shortest_path(ALICE, ERIN, properties=bad)

    # ------------------------------------------------------------ hubs, a page at a time

    def test_a_hub_is_streamed_a_page_at_a_time(self, schema):
        keys = [f"fan{i:03d}" for i in range(150)]
        hub = NodeRef("Person", "hub")
        schema.bulk_load(
            nodes=[Node("Person", "hub"), *(Node("Person", key, {"n": i}) for i, key in enumerate(keys))],
            edges=[Edge("KNOWS", NodeRef("Person", key), hub) for key in keys]
            + [Edge("LIVES_IN", NodeRef("Person", key), hub) for key in keys[:40]],
        )
        pages, after = [], None
        while True:
            page = schema.neighbours_page(hub, direction="in", after=after, limit=64)
            assert 0 < len(page.items) <= 64
            pages.append(page.items)
            after = page.next_cursor
            if after is None:
                break
        assert [len(items) for items in pages] == [64, 64, 22]
        streamed = [node for items in pages for node in items]
        assert sorted(refs(streamed)) == refs(schema.neighbours(hub, direction="in"))  # each node once
        assert {node.key: node.properties for node in streamed} == {key: {"n": i} for i, key in enumerate(keys)}
        bare_page = schema.neighbours_page(hub, direction="in", limit=3, properties=False, edge_types=["LIVES_IN"])
        assert len(bare_page.items) == 3 and all(node.properties == {} for node in bare_page.items)
        assert schema.neighbours_page(hub).items == [] and schema.neighbours_page(hub).next_cursor is None

    def test_page_arguments_are_checked(self, social):
        for cursor in ("not a cursor of this store", "²", "١٢"):  # str.isdigit() says yes to the last two
            with pytest.raises(InvalidInput):
                social.neighbours_page(ALICE, after=cursor)
        for limit in (0, -1, "5", 10**9):
            with pytest.raises(InvalidInput):
                social.neighbours_page(ALICE, limit=limit)
        with pytest.raises(NodeNotFound):
            social.neighbours_page(NodeRef("Person", "nobody"))

    # ------------------------------------------------------------ the work of one call

    def test_a_shortest_path_over_the_work_cap_is_refused_not_run(self, schema):
        """s -> m0..m39 -> t: each side's first expansion follows 40 edges."""
        middle = [f"m{i}" for i in range(40)]
        schema.bulk_load(
            nodes=[Node("Person", key) for key in ["s", "t", *middle]],
            edges=[Edge("KNOWS", NodeRef("Person", "s"), NodeRef("Person", key)) for key in middle]
            + [Edge("KNOWS", NodeRef("Person", key), NodeRef("Person", "t")) for key in middle],
        )
        source, target = NodeRef("Person", "s"), NodeRef("Person", "t")
        with override_settings(STRATA_GRAPH_MAX_WORK=10), pytest.raises(TraversalTooLarge, match="narrow"):
            schema.shortest_path(source, target)
        with override_settings(STRATA_GRAPH_MAX_WORK=200):
            path = schema.shortest_path(source, target)
            assert path.length == 2 and [path.nodes[0].key, path.nodes[2].key] == ["s", "t"]
        assert issubclass(TraversalTooLarge, InvalidInput)  # a client error (4xx) wherever a page shows it

    # ------------------------------------------------------------ against a reference BFS

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_k_hop_and_shortest_paths_match_a_reference_bfs_on_converging_paths(self, schema, seed):
        keys, links = layered_graph(seed)
        schema.bulk_load(
            nodes=[Node("Person", key) for key in keys],
            edges=[Edge("KNOWS", NodeRef("Person", s), NodeRef("Person", t)) for s, t in sorted(links)],
        )
        rng = random.Random(seed)
        for start in rng.sample(keys, 6):
            for direction in ("out", "in", "both"):
                for k in (1, 2, 3, 4):
                    expected = reference_depths(links, start, k, direction)
                    found = schema.k_hop(NodeRef("Person", start), k=k, direction=direction, properties=False)
                    assert {hop.node.key: hop.depth for hop in found} == expected, (start, direction, k)
                    assert len(found) == len(expected)  # each node once
                far = reference_depths(links, start, 10, direction)
                for target in rng.sample(keys, 4):
                    path = schema.shortest_path(
                        NodeRef("Person", start), NodeRef("Person", target), direction=direction, max_depth=10
                    )
                    if target == start:
                        assert path.length == 0
                    elif target not in far:
                        assert path is None
                    else:
                        assert path.length == far[target], (start, target, direction)
                        keys_on_path = [node.key for node in path.nodes]
                        assert keys_on_path[0] == start and keys_on_path[-1] == target
                        for edge, (a, b) in zip(path.edges, itertools.pairwise(keys_on_path), strict=True):
                            assert (edge.source.key, edge.target.key) in links
                            assert {edge.source.key, edge.target.key} == {a, b}
