"""Graph contract: schema, nodes, edges and bulk loads."""

from __future__ import annotations

import pytest
from django.db import transaction

from core.storage.filters import Eq
from core.storage.ports import (
    BulkLoadResult,
    Edge,
    GraphFeatures,
    GraphStore,
    InvalidInput,
    InvalidName,
    MalformedDocument,
    Node,
    NodeNotFound,
    NodeRef,
    StoreUnavailable,
    UnknownLabel,
)
from tests.contracts.graph_data import (
    ALICE,
    BAD_KEYS,
    BAD_LABELS,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    NOT_JSON,
    ODD_KEYS,
    PARIS,
    RICH,
    Boom,
    GraphFixtures,
    hops,
    refs,
)


class GraphWriteCases(GraphFixtures):
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

    def test_delete_nodes_deletes_the_matching_nodes_and_their_edges(self, social):
        social.upsert_node("Person", "alice", {"name": "Alice", "team": 1})
        social.upsert_node("Person", "bob", {"name": "Bob", "team": 1})
        social.upsert_node("City", "rome", {"name": "Rome", "team": 1})  # another label: kept
        assert social.delete_nodes("Person", where=Eq("team", 1)) == 2
        assert social.get_node(ALICE) is None and social.get_node(BOB) is None
        assert social.get_node(NodeRef("City", "rome")) is not None
        assert social.neighbours(PARIS, direction="in") == []  # alice's and bob's LIVES_IN went
        assert refs(social.neighbours(CAROL)) == [("Person", "dave")]
        assert refs(social.neighbours(DAVE, direction="both")) == [("Person", "carol"), ("Person", "erin")]
        assert social.count_edges() == 2  # carol -> dave -> erin
        assert social.delete_nodes("Person", where=Eq("team", 1)) == 0  # idempotent

    def test_delete_nodes_needs_a_filter_and_a_known_label(self, social):
        with pytest.raises(InvalidInput):
            social.delete_nodes("Person", where=None)
        with pytest.raises(UnknownLabel):
            social.delete_nodes("Robot", where=Eq("team", 1))
        assert social.count_nodes("Person") == 5

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
