"""What every GraphStore adapter must do. Uses only the port API and the port errors.

Subclass it as ``class TestMyGraphStore(GraphStoreContract)`` and provide the ``store`` fixture:
a store on an EMPTY graph (no labels, types, nodes or edges), plus whatever marks the adapter
needs (e.g. ``pytest.mark.django_db``); an ``unavailable_store`` fixture (the adapter pointed at a
server that does not answer); and, when ``store``'s writes are not visible to other threads
(a store inside the test's transaction), a ``concurrent_store`` fixture whose writes are.
Cases are skipped only where ``store.features`` says the adapter cannot do them.

Rules every adapter follows (the port leaves them implicit, this suite pins them down):
* labels and edge types are ``[A-Za-z][A-Za-z0-9_]{0,62}``; node keys are 1-255 printable
  characters; anything else raises InvalidName.
* properties are JSON objects; NaN/Infinity, NUL characters and non-JSON values raise
  MalformedDocument. A property named ``key`` never changes a node's key.
* orderings compare strings by code point (``"B" < "Z" < "a"``).
* traversals start at an existing node (else NodeNotFound); ``k``/``depth``/``max_depth``/
  ``limit`` are integers >= 1 (else InvalidInput); unknown labels/types raise UnknownLabel.
"""

from __future__ import annotations

import math
import threading

import pytest
from django.db import connections, transaction

from core.storage.filters import And, Eq, Exists, In, Not, Range
from core.storage.ports import (
    BulkLoadResult,
    Edge,
    GraphFeatures,
    GraphStore,
    Hop,
    InvalidInput,
    InvalidName,
    MalformedDocument,
    Node,
    NodeNotFound,
    NodeRef,
    NotSupported,
    Page,
    Path,
    StoreUnavailable,
    Subgraph,
    UnknownLabel,
)
from tests.contracts.features import FeatureGate, skip_if_feature, skip_unless_feature

BAD_LABELS = ["", "has space", "1starts_with_digit", "semi;colon", 'quo"te', "da-sh", "naïve", "x" * 64, None, 5]
BAD_KEYS = ["", "x" * 256, "nul\x00byte", "new\nline", "tab\there", None, 12, b"bytes"]
ODD_KEYS = ["a", "A", "a%", "a_", "it's", 'say "hi"', "back\\slash", "ünïcode ✓", "$k", "x" * 255, "{key: 1}"]
NOT_JSON = [
    {"a": float("nan")},
    {"a": float("inf")},
    {"nested": [1, {"b": float("-inf")}]},
    {"a": object()},
    {"a": {1, 2}},
    {"a": b"bytes"},
    {"a": "x\x00y"},
    {"a\x00": 1},
    [1, 2],
    "text",
]
RICH = {
    "name": "Ada ✓",
    "n": 42,
    "big": 2**62,
    "f": 1.5,
    "neg": -3,
    "flag": True,
    "off": False,
    "none": None,
    "tags": ["x", "y", 3],
    "nested": {"deep": {"deeper": [1, {"k": "v"}]}},
    "quote": 'it\'s "quoted" ::vertex',
}

ALICE, BOB, CAROL, DAVE, ERIN = (NodeRef("Person", key) for key in ("alice", "bob", "carol", "dave", "erin"))
PARIS = NodeRef("City", "paris")


def refs(nodes: list[Node]) -> list[tuple[str, str]]:
    return [(node.label, node.key) for node in nodes]


def hops(found: list[Hop]) -> list[tuple[str, str, int]]:
    return [(hop.node.label, hop.node.key, hop.depth) for hop in found]


def edge_triples(edges: list[Edge]) -> list[tuple[str, str, str]]:
    return [(edge.type, edge.source.key, edge.target.key) for edge in edges]


class Boom(Exception):
    pass


def run_threads(count: int, work) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads started together; the errors they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(i)
        except BaseException as error:  # noqa: BLE001 (reported to the test)
            errors.append(error)
        finally:
            connections.close_all()  # a thread's own database connections

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


class GraphStoreContract(FeatureGate):
    @pytest.fixture
    def store(self) -> GraphStore:
        raise NotImplementedError("the adapter's test class provides a store on an empty graph")

    @pytest.fixture
    def unavailable_store(self) -> GraphStore:
        raise NotImplementedError("the adapter's test class provides a store whose server does not answer")

    @pytest.fixture
    def concurrent_store(self, store) -> GraphStore:
        """A store on an empty graph whose writes other threads see (override when ``store``'s don't)."""
        return store

    @pytest.fixture
    def schema(self, store: GraphStore) -> GraphStore:
        for label in ("Person", "City"):
            store.define_node_label(label)
        for edge_type in ("KNOWS", "LIVES_IN"):
            store.define_edge_type(edge_type)
        return store

    @pytest.fixture
    def social(self, schema: GraphStore) -> GraphStore:
        """alice -> bob -> carol -> dave -> erin, alice -> carol, dave -> alice (KNOWS);
        alice, bob -> paris (LIVES_IN)."""
        for ref in (ALICE, BOB, CAROL, DAVE, ERIN):
            schema.upsert_node(ref.label, ref.key, {"name": ref.key.title()})
        schema.upsert_node("City", "paris", {"name": "Paris", "population": 2_100_000})
        for source, target, since in [
            (ALICE, BOB, 2001),
            (BOB, CAROL, 2002),
            (CAROL, DAVE, 2003),
            (DAVE, ERIN, 2004),
            (ALICE, CAROL, 2005),
            (DAVE, ALICE, 2006),
        ]:
            schema.upsert_edge("KNOWS", source, target, {"since": since})
        schema.upsert_edge("LIVES_IN", ALICE, PARIS)
        schema.upsert_edge("LIVES_IN", BOB, PARIS, {"years": 3})
        return schema

    # ------------------------------------------------------------ schema

    def test_store_implements_the_port(self, store):
        assert isinstance(store, GraphStore)
        assert isinstance(store.features, GraphFeatures)

    def test_writes_follow_the_callers_transaction_as_the_features_say(self, schema):
        with pytest.raises(Boom), transaction.atomic():
            schema.upsert_node("Person", "in-tx")
            raise Boom
        found = schema.get_node(NodeRef("Person", "in-tx"))
        assert (found is None) == schema.features.joins_db_transaction

    def test_an_unreachable_store_raises_store_unavailable_after_validating(self, unavailable_store):
        with pytest.raises(InvalidName):
            unavailable_store.upsert_node("Bad Label", "k")  # checked before any connection
        with pytest.raises(StoreUnavailable):
            unavailable_store.define_node_label("Person")
        with pytest.raises(StoreUnavailable):
            unavailable_store.get_node(NodeRef("Person", "k"))
        unavailable_store.close()

    def test_an_empty_graph_has_no_labels(self, store):
        assert store.node_labels() == []
        assert store.edge_types() == []

    def test_defining_is_idempotent_and_listed_in_code_point_order(self, store):
        for label in ("Person", "City", "Person", "apple"):
            store.define_node_label(label)
        store.define_edge_type("KNOWS")
        store.define_edge_type("KNOWS")
        assert store.node_labels() == ["City", "Person", "apple"]
        assert store.edge_types() == ["KNOWS"]

    @pytest.mark.parametrize("name", BAD_LABELS, ids=repr)
    def test_bad_label_and_type_names_raise_invalid_name(self, store, name):
        with pytest.raises(InvalidName):
            store.define_node_label(name)
        with pytest.raises(InvalidName):
            store.define_edge_type(name)
        assert store.node_labels() == [] and store.edge_types() == []

    def test_a_63_character_label_is_allowed(self, store):
        label = "L" + "x" * 62
        store.define_node_label(label)
        store.upsert_node(label, "k")
        assert store.get_node(NodeRef(label, "k")) == Node(label, "k", {})

    # ------------------------------------------------------------ nodes

    def test_upsert_then_get_round_trips_json_properties(self, schema):
        node = schema.upsert_node("Person", "ada", RICH)
        assert node == Node("Person", "ada", RICH)
        assert schema.get_node(NodeRef("Person", "ada")) == Node("Person", "ada", RICH)

    def test_upsert_without_properties_stores_an_empty_object(self, schema):
        assert schema.upsert_node("Person", "ada") == Node("Person", "ada", {})
        assert schema.get_node(NodeRef("Person", "ada")).properties == {}

    def test_upsert_replaces_the_properties(self, schema):
        schema.upsert_node("Person", "ada", {"old": 1, "keep": "no"})
        schema.upsert_node("Person", "ada", {"new": 2})
        assert schema.get_node(NodeRef("Person", "ada")).properties == {"new": 2}

    def test_a_node_ref_accepts_a_node(self, schema):
        node = schema.upsert_node("Person", "ada", {"x": 1})
        assert schema.get_node(node) == node

    def test_get_of_a_missing_node_returns_none(self, schema):
        assert schema.get_node(NodeRef("Person", "nobody")) is None

    def test_the_same_key_under_two_labels_is_two_nodes(self, schema):
        schema.upsert_node("Person", "x", {"kind": "person"})
        schema.upsert_node("City", "x", {"kind": "city"})
        assert schema.get_node(NodeRef("Person", "x")).properties == {"kind": "person"}
        assert schema.get_node(NodeRef("City", "x")).properties == {"kind": "city"}

    def test_keys_are_literal_and_case_sensitive(self, schema):
        for index, key in enumerate(ODD_KEYS):
            schema.upsert_node("Person", key, {"i": index})
        for index, key in enumerate(ODD_KEYS):
            assert schema.get_node(NodeRef("Person", key)) == Node("Person", key, {"i": index})

    @pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
    def test_bad_keys_raise_invalid_name_and_write_nothing(self, schema, key):
        with pytest.raises(InvalidName):
            schema.upsert_node("Person", key)
        with pytest.raises(InvalidName):
            schema.get_node(NodeRef("Person", key))
        assert schema.count_nodes("Person") == 0

    @pytest.mark.parametrize("properties", NOT_JSON, ids=repr)
    def test_non_json_properties_raise_malformed_document_and_write_nothing(self, schema, properties):
        with pytest.raises(MalformedDocument):
            schema.upsert_node("Person", "ada", properties)
        assert schema.get_node(NodeRef("Person", "ada")) is None

    def test_a_key_property_never_changes_the_node_key(self, schema):
        try:
            schema.upsert_node("Person", "ada", {"key": "mallory", "name": "Ada"})
        except InvalidInput:
            assert schema.get_node(NodeRef("Person", "ada")) is None
        else:
            assert schema.get_node(NodeRef("Person", "ada")) is not None
        assert schema.get_node(NodeRef("Person", "mallory")) is None

    def test_undefined_labels_raise_unknown_label_naming_it(self, schema):
        with pytest.raises(UnknownLabel, match="Robot"):
            schema.upsert_node("Robot", "r2")
        with pytest.raises(UnknownLabel, match="Robot"):
            schema.get_node(NodeRef("Robot", "r2"))
        with pytest.raises(UnknownLabel, match="Robot"):
            schema.delete_node(NodeRef("Robot", "r2"))

    def test_an_edge_type_is_not_a_node_label(self, schema):
        with pytest.raises(UnknownLabel):
            schema.upsert_node("KNOWS", "x")

    def test_delete_node_reports_whether_it_deleted(self, social):
        assert social.delete_node(ERIN) is True
        assert social.delete_node(ERIN) is False
        assert social.get_node(ERIN) is None

    def test_delete_node_deletes_every_edge_touching_it(self, social):
        assert social.delete_node(BOB) is True
        assert refs(social.neighbours(ALICE)) == [("City", "paris"), ("Person", "carol")]
        assert refs(social.neighbours(PARIS, direction="in")) == [("Person", "alice")]
        social.upsert_node("Person", "bob")  # a new bob has no edges left over
        assert social.neighbours(NodeRef("Person", "bob"), direction="both") == []

    # ------------------------------------------------------------ edges

    def test_upsert_edge_returns_the_edge_and_links_the_nodes(self, social):
        edge = social.upsert_edge("KNOWS", ERIN, BOB, {"since": 2020, "tags": ["x"]})
        assert edge == Edge("KNOWS", ERIN, BOB, {"since": 2020, "tags": ["x"]})
        assert refs(social.neighbours(ERIN)) == [("Person", "bob")]

    def test_edges_are_unique_per_type_source_and_target(self, social):
        social.upsert_edge("KNOWS", ALICE, BOB, {"since": 1999, "extra": True})
        graph = social.subgraph(ALICE, depth=1, direction="out", edge_types=["KNOWS"])
        alice_bob = [edge for edge in graph.edges if (edge.source, edge.target) == (ALICE, BOB)]
        assert alice_bob == [Edge("KNOWS", ALICE, BOB, {"since": 1999, "extra": True})]

    def test_two_types_between_the_same_nodes_are_two_edges(self, social):
        social.upsert_edge("LIVES_IN", ALICE, BOB)
        graph = social.subgraph(ALICE, depth=1, direction="out", edge_types=["KNOWS", "LIVES_IN"])
        assert sorted(e.type for e in graph.edges if (e.source, e.target) == (ALICE, BOB)) == ["KNOWS", "LIVES_IN"]

    def test_edges_are_directed(self, social):
        assert ("Person", "alice") not in refs(social.neighbours(BOB, edge_types=["KNOWS"]))
        assert ("Person", "alice") in refs(social.neighbours(BOB, direction="in"))

    def test_an_edge_to_a_missing_node_raises_node_not_found_and_writes_nothing(self, social):
        ghost = NodeRef("Person", "ghost")
        with pytest.raises(NodeNotFound, match="ghost"):
            social.upsert_edge("KNOWS", ALICE, ghost)
        with pytest.raises(NodeNotFound, match="ghost"):
            social.upsert_edge("KNOWS", ghost, ALICE)
        assert social.get_node(ghost) is None
        assert ("Person", "ghost") not in refs(social.neighbours(ALICE))

    def test_undefined_edge_types_and_endpoint_labels_raise_unknown_label(self, social):
        with pytest.raises(UnknownLabel, match="HATES"):
            social.upsert_edge("HATES", ALICE, BOB)
        with pytest.raises(UnknownLabel, match="Robot"):
            social.upsert_edge("KNOWS", ALICE, NodeRef("Robot", "r2"))
        with pytest.raises(UnknownLabel, match="HATES"):
            social.delete_edge("HATES", ALICE, BOB)
        with pytest.raises(UnknownLabel):
            social.upsert_edge("Person", ALICE, BOB)  # a node label is not an edge type

    @pytest.mark.parametrize("properties", NOT_JSON, ids=repr)
    def test_non_json_edge_properties_raise_malformed_document(self, social, properties):
        with pytest.raises(MalformedDocument):
            social.upsert_edge("KNOWS", ERIN, BOB, properties)
        assert social.neighbours(ERIN) == []

    def test_bad_names_in_edges_raise_invalid_name(self, social):
        with pytest.raises(InvalidName):
            social.upsert_edge("BAD TYPE", ALICE, BOB)
        with pytest.raises(InvalidName):
            social.upsert_edge("KNOWS", ALICE, NodeRef("Person", ""))

    def test_delete_edge_reports_whether_it_deleted(self, social):
        assert social.delete_edge("KNOWS", ALICE, BOB) is True
        assert social.delete_edge("KNOWS", ALICE, BOB) is False
        assert social.delete_edge("KNOWS", ALICE, NodeRef("Person", "ghost")) is False
        assert refs(social.neighbours(ALICE, edge_types=["KNOWS"])) == [("Person", "carol")]
        assert social.get_node(BOB) is not None  # the nodes stay

    # ------------------------------------------------------------ bulk load

    def test_bulk_load_writes_nodes_then_edges(self, schema):
        people = [Node("Person", f"p{i}", {"i": i}) for i in range(50)]
        chain = [Edge("KNOWS", NodeRef("Person", f"p{i}"), NodeRef("Person", f"p{i + 1}"), {"i": i}) for i in range(49)]
        assert schema.bulk_load(nodes=people, edges=chain) == BulkLoadResult(nodes=50, edges=49)
        assert schema.get_node(NodeRef("Person", "p7")) == Node("Person", "p7", {"i": 7})
        assert hops(schema.k_hop(NodeRef("Person", "p0"), k=3)) == [
            ("Person", "p1", 1),
            ("Person", "p2", 2),
            ("Person", "p3", 3),
        ]
        assert schema.shortest_path(NodeRef("Person", "p0"), NodeRef("Person", "p49"), max_depth=10) is None

    def test_bulk_load_accepts_generators_and_nodes_as_endpoints(self, schema):
        nodes = (Node("Person", key) for key in "abc")
        result = schema.bulk_load(nodes=nodes, edges=(Edge("KNOWS", Node("Person", "a"), NodeRef("Person", "b")),))
        assert result == BulkLoadResult(nodes=3, edges=1)
        assert refs(schema.neighbours(NodeRef("Person", "a"))) == [("Person", "b")]

    def test_bulk_load_upserts_and_a_later_duplicate_wins(self, social):
        result = social.bulk_load(
            nodes=[Node("Person", "alice", {"v": 1}), Node("Person", "zoe", {"v": 1}), Node("Person", "zoe", {"v": 2})],
            edges=[
                Edge("KNOWS", ALICE, BOB, {"since": 1}),
                Edge("KNOWS", ALICE, BOB, {"since": 2}),
                Edge("KNOWS", NodeRef("Person", "zoe"), ALICE),
            ],
        )
        assert result == BulkLoadResult(nodes=2, edges=2)
        assert social.get_node(ALICE).properties == {"v": 1}
        assert social.get_node(NodeRef("Person", "zoe")).properties == {"v": 2}
        graph = social.subgraph(ALICE, depth=1, direction="out", edge_types=["KNOWS"])
        assert [e.properties for e in graph.edges if (e.source, e.target) == (ALICE, BOB)] == [{"since": 2}]
        assert refs(social.neighbours(ALICE, direction="in")) == [("Person", "dave"), ("Person", "zoe")]

    def test_bulk_load_edges_may_use_existing_nodes_across_labels(self, social):
        result = social.bulk_load(edges=[Edge("LIVES_IN", ERIN, PARIS, {"since": 2024})])
        assert result == BulkLoadResult(nodes=0, edges=1)
        assert refs(social.neighbours(PARIS, direction="in")) == [
            ("Person", "alice"),
            ("Person", "bob"),
            ("Person", "erin"),
        ]

    def test_bulk_load_of_nothing_writes_nothing(self, schema):
        assert schema.bulk_load() == BulkLoadResult(nodes=0, edges=0)

    def test_bulk_load_with_a_missing_endpoint_writes_nothing(self, schema):
        with pytest.raises(NodeNotFound, match="ghost"):
            schema.bulk_load(
                nodes=[Node("Person", "a"), Node("Person", "b")],
                edges=[
                    Edge("KNOWS", NodeRef("Person", "a"), NodeRef("Person", "b")),
                    Edge("KNOWS", NodeRef("Person", "a"), NodeRef("Person", "ghost")),
                ],
            )
        assert schema.get_node(NodeRef("Person", "a")) is None
        assert schema.get_node(NodeRef("Person", "b")) is None

    @pytest.mark.parametrize(
        ("nodes", "edges", "error"),
        [
            ([Node("Person", "")], [], InvalidName),
            ([Node("Bad Label", "k")], [], InvalidName),
            ([Node("Robot", "k")], [], UnknownLabel),
            ([Node("Person", "k", {"a": float("nan")})], [], MalformedDocument),
            ([], [Edge("HATES", NodeRef("Person", "a"), NodeRef("Person", "a"))], UnknownLabel),
            ([], [Edge("KNOWS", NodeRef("Person", "a"), NodeRef("Person", "x" * 256))], InvalidName),
            ([], [Edge("KNOWS", NodeRef("Person", "a"), NodeRef("Person", "a"), {"x": object()})], MalformedDocument),
            (["not a node"], [], InvalidInput),
            ([], [("KNOWS", "a", "b")], InvalidInput),
        ],
        ids=repr,
    )
    def test_bulk_load_validates_everything_before_writing(self, schema, nodes, edges, error):
        with pytest.raises(error):
            schema.bulk_load(nodes=[Node("Person", "a"), *nodes], edges=edges)
        assert schema.get_node(NodeRef("Person", "a")) is None

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

    # ------------------------------------------------------------ cypher

    @skip_unless_feature("supports_cypher")
    def test_cypher_with_parameters_returns_rows_keyed_by_columns(self, social):
        rows = social.cypher(
            "MATCH (a:Person)-[e:KNOWS]->(b:Person) WHERE a.key = $k RETURN b.key, e.since ORDER BY b.key",
            {"k": "alice"},
            columns=["friend", "since"],
        )
        assert rows == [{"friend": "bob", "since": 2001}, {"friend": "carol", "since": 2005}]

    @skip_unless_feature("supports_cypher")
    def test_cypher_returns_neutral_nodes_edges_and_paths(self, social):
        [row] = social.cypher("MATCH (n:City) WHERE n.key = $k RETURN n", {"k": "paris"})
        assert row == {"result": Node("City", "paris", {"name": "Paris", "population": 2_100_000})}
        rows = social.cypher(
            "MATCH (a:Person)-[e:KNOWS]->(b:Person) WHERE a.key = $k AND b.key = $t RETURN a, e, b",
            {"k": "alice", "t": "bob"},
            columns=["a", "e", "b"],
        )
        assert rows == [
            {
                "a": Node("Person", "alice", {"name": "Alice"}),
                "e": Edge("KNOWS", ALICE, BOB, {"since": 2001}),
                "b": Node("Person", "bob", {"name": "Bob"}),
            }
        ]
        [row] = social.cypher(
            "MATCH p = (a:Person)-[:KNOWS]->(b:Person) WHERE a.key = $k AND b.key = $t RETURN p",
            {"k": "bob", "t": "carol"},
        )
        assert row["result"] == Path(
            nodes=[Node("Person", "bob", {"name": "Bob"}), Node("Person", "carol", {"name": "Carol"})],
            edges=[Edge("KNOWS", BOB, CAROL, {"since": 2002})],
        )

    @skip_if_feature("supports_cypher")
    def test_cypher_is_refused_without_the_feature(self, social):
        with pytest.raises(NotSupported):
            social.cypher("RETURN 1")

    @skip_unless_feature("supports_cypher")
    def test_cypher_parameters_are_values_not_code(self, social):
        for value in ["alice' OR 1=1 //", '"}) MATCH (n) DETACH DELETE n //', "$k", "%s", "x\\"]:
            assert social.cypher("MATCH (n:Person) WHERE n.key = $k RETURN n.key", {"k": value}) == []
        assert social.get_node(ALICE) is not None

    @skip_unless_feature("supports_cypher")
    def test_cypher_scalars_round_trip(self, schema):
        [row] = schema.cypher(
            "RETURN 1, 2.5, 'text ::vertex \"q\"', true, null, [1, 'a'], {a: {b: 1}}",
            columns=["i", "f", "s", "b", "n", "l", "m"],
        )
        assert row == {
            "i": 1,
            "f": 2.5,
            "s": 'text ::vertex "q"',
            "b": True,
            "n": None,
            "l": [1, "a"],
            "m": {"a": {"b": 1}},
        }
        assert not math.isnan(row["f"])

    @skip_unless_feature("supports_cypher")
    @pytest.mark.parametrize("columns", [[], ["a b"], ["x); DROP TABLE t; --"], ["a", "a"], "result", [None]])
    def test_cypher_columns_are_checked(self, schema, columns):
        with pytest.raises(InvalidInput):
            schema.cypher("RETURN 1", columns=columns)

    @skip_unless_feature("supports_cypher")
    def test_cypher_params_must_be_json(self, schema):
        with pytest.raises(MalformedDocument):
            schema.cypher("RETURN $x", {"x": float("nan")})

    # ------------------------------------------------------------ scans and counts (backfills)

    def test_scan_nodes_pages_through_every_node_once_in_key_order(self, schema):
        schema.bulk_load(nodes=[Node("Person", f"p{i:03d}", {"i": i}) for i in range(25)])
        schema.upsert_node("City", "paris")
        seen: list[Node] = []
        cursor = None
        while True:
            page = schema.scan_nodes("Person", after=cursor, limit=10)
            assert isinstance(page, Page) and len(page.items) <= 10
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [Node("Person", f"p{i:03d}", {"i": i}) for i in range(25)]
        assert schema.scan_nodes("City") == Page(items=[Node("City", "paris", {})], next_cursor=None)

    def test_scan_edges_pages_through_every_edge_once(self, social):
        seen: list[Edge] = []
        cursor = None
        while True:
            page = social.scan_edges("KNOWS", after=cursor, limit=4)
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted((e.source.key, e.target.key, e.properties["since"]) for e in seen) == [
            ("alice", "bob", 2001),
            ("alice", "carol", 2005),
            ("bob", "carol", 2002),
            ("carol", "dave", 2003),
            ("dave", "alice", 2006),
            ("dave", "erin", 2004),
        ]
        assert {e.type for e in seen} == {"KNOWS"}
        lives = social.scan_edges("LIVES_IN").items
        assert sorted((e.source.key, e.target.key, e.properties.get("years", 0)) for e in lives) == [
            ("alice", "paris", 0),
            ("bob", "paris", 3),
        ]
        assert {(e.source, e.target) for e in lives} == {(ALICE, PARIS), (BOB, PARIS)}

    def test_counts(self, social):
        assert social.count_nodes() == 6
        assert social.count_nodes("Person") == 5
        assert social.count_nodes("City") == 1
        assert social.count_edges() == 8
        assert social.count_edges("KNOWS") == 6
        assert social.count_edges("LIVES_IN") == 2
        with pytest.raises(UnknownLabel):
            social.count_nodes("Robot")
        with pytest.raises(UnknownLabel):
            social.count_edges("HATES")

    def test_scans_and_counts_check_their_arguments(self, social):
        with pytest.raises(UnknownLabel):
            social.scan_nodes("Robot")
        with pytest.raises(UnknownLabel):
            social.scan_edges("Person")
        with pytest.raises(InvalidName):
            social.scan_nodes("Bad Label")
        for limit in (0, 10_001, "5"):
            with pytest.raises(InvalidInput):
                social.scan_nodes("Person", limit=limit)

    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            (Eq("name", "Bob"), ["bob"]),
            (In("name", ["Alice", "Erin", "Zed"]), ["alice", "erin"]),
            (Range("rank", gte=2), ["carol", "dave"]),
            (Exists("tags"), ["alice", "bob"]),
            (Eq("tags", "x"), ["alice"]),  # an array matches through an element
            (Not(Exists("rank")), ["alice", "erin"]),
            (And(Exists("rank"), Not(Eq("name", "Dave"))), ["bob", "carol"]),
        ],
        ids=repr,
    )
    def test_nodes_filtered_by_top_level_properties(self, social, where, expected):
        social.upsert_node("Person", "alice", {"name": "Alice", "tags": ["x", "y"]})
        social.upsert_node("Person", "bob", {"name": "Bob", "rank": 1, "tags": []})
        social.upsert_node("Person", "bob", {"name": "Bob", "rank": 1, "tags": ["z"]})
        social.upsert_node("Person", "carol", {"name": "Carol", "rank": 2})
        social.upsert_node("Person", "dave", {"name": "Dave", "rank": 3.5})
        assert [n.key for n in social.scan_nodes("Person", where=where).items] == expected
        assert social.count_nodes("Person", where=where) == len(expected)

    @skip_if_feature("supports_nested_filter_paths")
    def test_nested_filter_paths_are_refused_without_the_feature(self, social):
        with pytest.raises(NotSupported):
            social.scan_nodes("Person", where=Eq("meta.lang", "en"))

    @skip_unless_feature("supports_nested_filter_paths")
    def test_nested_filter_paths(self, social):
        social.upsert_node("Person", "alice", {"meta": {"lang": "en"}})
        assert [n.key for n in social.scan_nodes("Person", where=Eq("meta.lang", "en")).items] == ["alice"]

    # ------------------------------------------------------------ concurrent writers

    def test_concurrent_writers_keep_nodes_and_edges_unique(self, concurrent_store):
        store = concurrent_store
        store.define_node_label("Person")
        store.define_edge_type("KNOWS")
        keys = [f"n{i}" for i in range(20)]

        def work(i: int) -> None:
            for key in keys if i % 2 == 0 else reversed(keys):
                store.upsert_node("Person", key, {"writer": i})
            for a, b in zip(keys, keys[1:], strict=False):
                store.upsert_edge("KNOWS", NodeRef("Person", a), NodeRef("Person", b), {"writer": i})
            store.bulk_load(
                nodes=[Node("Person", key, {"bulk": i}) for key in keys[:5]],
                edges=[Edge("KNOWS", NodeRef("Person", keys[0]), NodeRef("Person", k)) for k in keys[5:10]],
            )

        assert run_threads(4, work) == []
        assert store.count_nodes("Person") == 20
        assert store.count_edges("KNOWS") == 19 + 5
        assert len(store.scan_edges("KNOWS", limit=100).items) == 24
