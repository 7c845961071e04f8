"""AgeGraphStore's in-memory label catalogue: what other transactions and processes do to the
labels is seen at once, and a rolled-back label never breaks a later transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.db import transaction

from core.storage.ports import Node, NodeRef, UnknownLabel
from core.storage.postgres.age import AgeGraphStore
from tests.contracts.graph_contract import run_threads


class Boom(Exception):
    pass


@pytest.fixture
def graph_name(transactional_db) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    AgeGraphStore(graph=name).drop_graph()


def test_a_label_rolled_back_with_its_transaction_is_unknown_again(graph_name):
    store = AgeGraphStore(graph=graph_name)
    store.ensure_graph()
    with pytest.raises(Boom), transaction.atomic():
        store.define_node_label("Person")
        store.upsert_node("Person", "a")
        assert store.neighbours(NodeRef("Person", "a")) == []
        raise Boom
    with transaction.atomic():
        with pytest.raises(UnknownLabel, match="Person"):
            store.neighbours(NodeRef("Person", "a"))
        with pytest.raises(UnknownLabel, match="Person"):
            store.upsert_node("Person", "b")
        assert store.node_labels() == []  # no statement failed: the transaction is still usable
    store.define_node_label("Person")
    store.upsert_node("Person", "b")
    assert store.get_node(NodeRef("Person", "b")) == Node("Person", "b", {})


def test_labels_another_process_defines_or_drops_are_seen_at_once(graph_name):
    store = AgeGraphStore(graph=graph_name)
    store.define_node_label("Person")
    store.define_edge_type("KNOWS")
    store.upsert_node("Person", "a")
    assert store.k_hop(NodeRef("Person", "a"), k=2) == []  # the catalogue is in memory now

    def redefine(_: int) -> None:  # another connection: the graph again, with Person an edge type
        other = AgeGraphStore(graph=graph_name)
        other.drop_graph()
        other.define_node_label("City")
        other.define_edge_type("Person")
        other.define_edge_type("KNOWS")
        other.upsert_node("City", "paris")

    assert run_threads(1, redefine) == []
    with pytest.raises(UnknownLabel, match="Person"):  # the same table names, other kinds
        store.k_hop(NodeRef("Person", "a"), k=2)
    with pytest.raises(UnknownLabel, match="Person"):
        store.neighbours(NodeRef("Person", "a"), edge_types=["KNOWS"])
    assert store.neighbours(NodeRef("City", "paris")) == []  # a label this process never defined
    assert store.edge_types() == ["KNOWS", "Person"] and store.node_labels() == ["City"]
