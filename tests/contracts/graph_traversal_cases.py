"""Graph contract: neighbours, k-hop (converging paths), shortest paths and subgraphs."""

from __future__ import annotations

import pytest

from core.storage.ports import (
    Edge,
    InvalidInput,
    InvalidName,
    Node,
    NodeNotFound,
    NodeRef,
    Path,
    Subgraph,
    UnknownLabel,
)
from tests.contracts.graph_data import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    PARIS,
    GraphFixtures,
    edge_triples,
    hops,
    refs,
)


class GraphTraversalCases(GraphFixtures):
    # ------------------------------------------------------------ neighbours

    def test_neighbours_are_ordered_by_label_then_key_with_properties(self, social):
        assert social.neighbours(ALICE) == [
            Node("City", "paris", {"name": "Paris", "population": 2_100_000}),
            Node("Person", "bob", {"name": "Bob"}),
            Node("Person", "carol", {"name": "Carol"}),
        ]

    def test_neighbours_by_direction(self, social):
        assert refs(social.neighbours(ALICE, direction="in")) == [("Person", "dave")]
        assert refs(social.neighbours(ALICE, direction="both")) == [
            ("City", "paris"),
            ("Person", "bob"),
            ("Person", "carol"),
            ("Person", "dave"),
        ]
        assert refs(social.neighbours(PARIS, direction="in")) == [("Person", "alice"), ("Person", "bob")]
        assert social.neighbours(PARIS) == []

    def test_neighbours_by_edge_type_and_limit(self, social):
        assert refs(social.neighbours(ALICE, edge_types=["LIVES_IN"])) == [("City", "paris")]
        assert refs(social.neighbours(ALICE, edge_types=["KNOWS", "LIVES_IN"])) == refs(social.neighbours(ALICE))
        assert refs(social.neighbours(ALICE, limit=2)) == [("City", "paris"), ("Person", "bob")]

    def test_a_node_reached_twice_is_listed_once(self, social):
        social.upsert_edge("LIVES_IN", ALICE, BOB)
        assert refs(social.neighbours(ALICE, edge_types=["KNOWS", "LIVES_IN"])).count(("Person", "bob")) == 1

    def test_a_self_loop_makes_a_node_its_own_neighbour_but_not_its_own_hop(self, social):
        social.upsert_edge("KNOWS", ERIN, ERIN)
        assert refs(social.neighbours(ERIN)) == [("Person", "erin")]
        assert social.k_hop(ERIN, k=2) == []

    def test_ordering_is_by_code_point(self, schema):
        schema.upsert_node("Person", "hub")
        for key in ("b", "a", "Z", "B", "é", "_"):
            schema.upsert_node("Person", key)
            schema.upsert_edge("KNOWS", NodeRef("Person", "hub"), NodeRef("Person", key))
        expected = ["B", "Z", "_", "a", "b", "é"]
        assert [n.key for n in schema.neighbours(NodeRef("Person", "hub"))] == expected
        assert [n.key for n in schema.neighbours(NodeRef("Person", "hub"), limit=4)] == expected[:4]
        assert [h.node.key for h in schema.k_hop(NodeRef("Person", "hub"), k=1, limit=5)] == expected[:5]

    # ------------------------------------------------------------ k_hop

    def test_k_hop_keeps_every_node_of_converging_paths(self, schema):
        """Diamonds: a -> b1..b3 -> c, and c -> d1, d2 -> e. Paths converge on c and on e; each
        node comes once at its shortest depth (FalkorDB 4's ``*1..k`` dropped such nodes)."""
        keys = ["a", "b1", "b2", "b3", "c", "d1", "d2", "e", "f"]
        links = [("a", b) for b in ("b1", "b2", "b3")] + [(b, "c") for b in ("b1", "b2", "b3")]
        links += [("c", "d1"), ("c", "d2"), ("d1", "e"), ("d2", "e"), ("a", "e"), ("e", "f")]
        schema.bulk_load(
            nodes=[Node("Person", key) for key in keys],
            edges=[Edge("KNOWS", NodeRef("Person", s), NodeRef("Person", t)) for s, t in links],
        )
        start = NodeRef("Person", "a")
        assert hops(schema.k_hop(start, k=4)) == [
            ("Person", "b1", 1),
            ("Person", "b2", 1),
            ("Person", "b3", 1),
            ("Person", "e", 1),
            ("Person", "c", 2),
            ("Person", "f", 2),
            ("Person", "d1", 3),
            ("Person", "d2", 3),
        ]
        assert hops(schema.k_hop(NodeRef("Person", "b2"), k=3)) == [
            ("Person", "c", 1),
            ("Person", "d1", 2),
            ("Person", "d2", 2),
            ("Person", "e", 3),
        ]
        assert hops(schema.k_hop(NodeRef("Person", "f"), k=3, direction="in")) == [
            ("Person", "e", 1),
            ("Person", "a", 2),
            ("Person", "d1", 2),
            ("Person", "d2", 2),
            ("Person", "c", 3),
        ]
        graph = schema.subgraph(NodeRef("Person", "c"), depth=2, direction="out")
        assert refs(graph.nodes) == [("Person", "c"), ("Person", "d1"), ("Person", "d2"), ("Person", "e")]
        assert edge_triples(graph.edges) == [
            ("KNOWS", "c", "d1"),
            ("KNOWS", "c", "d2"),
            ("KNOWS", "d1", "e"),
            ("KNOWS", "d2", "e"),
        ]

    def test_k_hop_gives_each_node_once_with_its_shortest_depth(self, social):
        assert hops(social.k_hop(ALICE, k=1)) == [("City", "paris", 1), ("Person", "bob", 1), ("Person", "carol", 1)]
        assert hops(social.k_hop(ALICE, k=3)) == [
            ("City", "paris", 1),
            ("Person", "bob", 1),
            ("Person", "carol", 1),
            ("Person", "dave", 2),
            ("Person", "erin", 3),
        ]
        assert social.k_hop(ALICE, k=1)[0].node == Node("City", "paris", {"name": "Paris", "population": 2_100_000})

    def test_k_hop_never_returns_the_start_even_through_a_cycle(self, social):
        assert ("Person", "alice") not in [(label, key) for label, key, _ in hops(social.k_hop(ALICE, k=5))]

    def test_k_hop_by_direction_edge_type_and_limit(self, social):
        assert hops(social.k_hop(CAROL, k=2, direction="in")) == [
            ("Person", "alice", 1),
            ("Person", "bob", 1),
            ("Person", "dave", 2),
        ]
        assert hops(social.k_hop(PARIS, k=1, direction="both")) == [("Person", "alice", 1), ("Person", "bob", 1)]
        assert hops(social.k_hop(ALICE, k=3, edge_types=["KNOWS"])) == [
            ("Person", "bob", 1),
            ("Person", "carol", 1),
            ("Person", "dave", 2),
            ("Person", "erin", 3),
        ]
        assert hops(social.k_hop(ALICE, k=3, limit=2)) == [("City", "paris", 1), ("Person", "bob", 1)]
        assert social.k_hop(ERIN, k=3) == []

    def test_k_hop_last_labels_keep_only_those_labels_at_depth_k(self, social):
        assert hops(social.k_hop(ALICE, k=1, last_labels=["Person"])) == [("Person", "bob", 1), ("Person", "carol", 1)]
        assert hops(social.k_hop(ALICE, k=2, last_labels=["City"])) == [
            ("City", "paris", 1),
            ("Person", "bob", 1),
            ("Person", "carol", 1),
        ]  # dave (a Person, 2 edges away) left out; the nearer Persons stay
        everything = hops(social.k_hop(ALICE, k=3))
        assert hops(social.k_hop(ALICE, k=3, last_labels=["Person", "City"])) == everything
        assert hops(social.k_hop(ALICE, k=3, last_labels=[])) == everything[:-1]  # erin is 3 edges away
        assert hops(social.k_hop(ALICE, k=3, last_labels=["NoSuchLabel"])) == everything[:-1]
        # the limit counts the nodes returned
        assert hops(social.k_hop(ALICE, k=1, limit=1, last_labels=["Person"])) == [("Person", "bob", 1)]
        assert hops(social.k_hop(ALICE, k=2, direction="both", properties=False, last_labels=["Person"])) == hops(
            social.k_hop(ALICE, k=2, direction="both", properties=False)
        )
        with pytest.raises(InvalidInput):
            social.k_hop(ALICE, k=1, last_labels="Person")
        with pytest.raises(InvalidInput):
            social.k_hop(ALICE, k=1, last_labels=["bad label!"])

    def test_a_larger_k_only_adds_deeper_nodes(self, social):
        for k in range(1, 6):
            shallow, deep = (
                hops(social.k_hop(BOB, k=k, direction="both")),
                hops(social.k_hop(BOB, k=k + 1, direction="both")),
            )
            assert deep[: len(shallow)] == shallow
            assert all(depth == k + 1 for _, _, depth in deep[len(shallow) :])

    @pytest.mark.parametrize("k", [0, -1, 1.5, "2", None, True])
    def test_k_must_be_a_positive_integer(self, social, k):
        with pytest.raises(InvalidInput):
            social.k_hop(ALICE, k=k)

    # ------------------------------------------------------------ traversal arguments (shared)

    @pytest.mark.parametrize(
        "call",
        [
            lambda s, ref, **kw: s.neighbours(ref, **kw),
            lambda s, ref, **kw: s.k_hop(ref, k=2, **kw),
            lambda s, ref, **kw: s.subgraph(ref, **kw),
            lambda s, ref, **kw: s.shortest_path(ref, NodeRef("Person", "erin"), **kw),
        ],
        ids=["neighbours", "k_hop", "subgraph", "shortest_path"],
    )
    def test_traversal_arguments_are_checked(self, social, call):
        with pytest.raises(NodeNotFound, match="nobody"):
            call(social, NodeRef("Person", "nobody"))
        with pytest.raises(UnknownLabel, match="Robot"):
            call(social, NodeRef("Robot", "r2"))
        with pytest.raises(UnknownLabel, match="HATES"):
            call(social, ALICE, edge_types=["KNOWS", "HATES"])
        with pytest.raises(UnknownLabel):
            call(social, ALICE, edge_types=["Person"])
        with pytest.raises(InvalidName):
            call(social, ALICE, edge_types=["NOT A TYPE"])
        with pytest.raises(InvalidInput):
            call(social, ALICE, edge_types="KNOWS")  # a string is not a list of types
        with pytest.raises(InvalidInput):
            call(social, ALICE, edge_types=[])
        with pytest.raises(InvalidInput):
            call(social, ALICE, direction="sideways")
        with pytest.raises(InvalidName):
            call(social, NodeRef("Person", ""))

    @pytest.mark.parametrize("limit", [0, -3, 2.5, "10", True])
    def test_limits_must_be_positive_integers(self, social, limit):
        with pytest.raises(InvalidInput):
            social.neighbours(ALICE, limit=limit)
        with pytest.raises(InvalidInput):
            social.k_hop(ALICE, k=1, limit=limit)
        with pytest.raises(InvalidInput):
            social.subgraph(ALICE, limit=limit)

    # ------------------------------------------------------------ shortest path

    def test_shortest_path_follows_edges_and_keeps_their_properties(self, social):
        path = social.shortest_path(ALICE, ERIN)
        assert isinstance(path, Path) and path.length == 3
        assert refs(path.nodes) == [("Person", "alice"), ("Person", "carol"), ("Person", "dave"), ("Person", "erin")]
        assert path.nodes[0] == Node("Person", "alice", {"name": "Alice"})
        assert path.edges == [
            Edge("KNOWS", ALICE, CAROL, {"since": 2005}),
            Edge("KNOWS", CAROL, DAVE, {"since": 2003}),
            Edge("KNOWS", DAVE, ERIN, {"since": 2004}),
        ]

    def test_shortest_path_respects_direction_and_reports_real_edge_direction(self, social):
        assert social.shortest_path(ERIN, ALICE) is None
        path = social.shortest_path(ERIN, ALICE, direction="both")
        assert refs(path.nodes) == [("Person", "erin"), ("Person", "dave"), ("Person", "alice")]
        assert edge_triples(path.edges) == [("KNOWS", "dave", "erin"), ("KNOWS", "dave", "alice")]
        path = social.shortest_path(ERIN, CAROL, direction="in")
        assert refs(path.nodes) == [("Person", "erin"), ("Person", "dave"), ("Person", "carol")]

    def test_shortest_path_respects_max_depth_and_edge_types(self, social):
        assert social.shortest_path(ALICE, ERIN, max_depth=2) is None
        assert social.shortest_path(ALICE, ERIN, max_depth=3).length == 3
        assert social.shortest_path(ALICE, PARIS, edge_types=["KNOWS"]) is None
        path = social.shortest_path(CAROL, PARIS)
        assert edge_triples(path.edges) == [
            ("KNOWS", "carol", "dave"),
            ("KNOWS", "dave", "alice"),
            ("LIVES_IN", "alice", "paris"),
        ]

    def test_shortest_path_from_a_node_to_itself_is_empty(self, social):
        path = social.shortest_path(BOB, BOB)
        assert path.nodes == [Node("Person", "bob", {"name": "Bob"})] and path.edges == [] and path.length == 0

    def test_shortest_path_to_a_missing_target_raises_node_not_found(self, social):
        with pytest.raises(NodeNotFound, match="ghost"):
            social.shortest_path(ALICE, NodeRef("Person", "ghost"))
        with pytest.raises(UnknownLabel):
            social.shortest_path(ALICE, NodeRef("Robot", "r2"))

    @pytest.mark.parametrize("max_depth", [0, -1, "3", 2.0])
    def test_max_depth_must_be_a_positive_integer(self, social, max_depth):
        with pytest.raises(InvalidInput):
            social.shortest_path(ALICE, ERIN, max_depth=max_depth)

    def test_shortest_path_on_a_long_chain(self, schema):
        chain = [Node("Person", f"c{i:02d}") for i in range(12)]
        links = [Edge("KNOWS", chain[i].ref, chain[i + 1].ref) for i in range(11)]
        schema.bulk_load(nodes=chain, edges=links)
        schema.upsert_edge("KNOWS", chain[2].ref, chain[7].ref)  # a shortcut
        path = schema.shortest_path(chain[0].ref, chain[9].ref)
        assert [n.key for n in path.nodes] == ["c00", "c01", "c02", "c07", "c08", "c09"]

    # ------------------------------------------------------------ subgraph

    def test_subgraph_has_the_start_first_then_nodes_by_depth_and_the_edges_among_them(self, social):
        graph = social.subgraph(BOB)
        assert isinstance(graph, Subgraph)
        assert refs(graph.nodes) == [("Person", "bob"), ("City", "paris"), ("Person", "alice"), ("Person", "carol")]
        assert edge_triples(graph.edges) == [
            ("KNOWS", "alice", "bob"),
            ("KNOWS", "alice", "carol"),
            ("KNOWS", "bob", "carol"),
            ("LIVES_IN", "alice", "paris"),
            ("LIVES_IN", "bob", "paris"),
        ]
        assert graph.edges[0].properties == {"since": 2001}
        assert graph.nodes[0] == Node("Person", "bob", {"name": "Bob"})

    def test_subgraph_by_type_direction_depth_and_limit(self, social):
        graph = social.subgraph(BOB, edge_types=["KNOWS"])
        assert refs(graph.nodes) == [("Person", "bob"), ("Person", "alice"), ("Person", "carol")]
        assert edge_triples(graph.edges) == [
            ("KNOWS", "alice", "bob"),
            ("KNOWS", "alice", "carol"),
            ("KNOWS", "bob", "carol"),
        ]
        graph = social.subgraph(BOB, depth=2, direction="out")
        assert refs(graph.nodes) == [("Person", "bob"), ("City", "paris"), ("Person", "carol"), ("Person", "dave")]
        assert edge_triples(graph.edges) == [
            ("KNOWS", "bob", "carol"),
            ("KNOWS", "carol", "dave"),
            ("LIVES_IN", "bob", "paris"),
        ]
        graph = social.subgraph(BOB, limit=2)
        assert refs(graph.nodes) == [("Person", "bob"), ("City", "paris")]
        assert edge_triples(graph.edges) == [("LIVES_IN", "bob", "paris")]
        assert social.subgraph(BOB, limit=1) == Subgraph(nodes=[Node("Person", "bob", {"name": "Bob"})], edges=[])

    def test_subgraph_of_an_isolated_node(self, schema):
        schema.upsert_node("Person", "alone", {"x": 1})
        assert schema.subgraph(NodeRef("Person", "alone"), depth=3) == Subgraph(
            nodes=[Node("Person", "alone", {"x": 1})], edges=[]
        )

    @pytest.mark.parametrize("depth", [0, -1, "1", 1.0])
    def test_subgraph_depth_must_be_a_positive_integer(self, social, depth):
        with pytest.raises(InvalidInput):
            social.subgraph(ALICE, depth=depth)
