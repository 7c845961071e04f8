"""The point of the product: one transaction covers rows, documents, vectors and graph edges."""

from __future__ import annotations

import pytest
from django.db import transaction

from core import services
from core.models import AuditEntry, Workspace
from core.storage import get_document_store, get_graph_store, get_vector_store
from core.storage.ports import DimensionMismatch, Edge, Node, NodeRef, VectorItem

APP = "tests"
MODEL = "test-model"


def unit(i: int) -> list[float]:
    v = [0.0] * 1536
    v[i] = 1.0
    return v


@pytest.fixture
def stores():
    documents, vectors, graph = get_document_store(APP), get_vector_store(APP), get_graph_store(APP)
    documents.create_collection("tx.docs")
    vectors.create_collection("tx.vectors", dimension=1536, model=MODEL)
    graph.define_node_label("TxNode")
    graph.define_edge_type("TX_LINK")
    return documents, vectors, graph


def write_all_four(user, documents, vectors, graph, *, fail_with: Exception | None = None) -> None:
    workspace = services.workspace_create(name="tx-ws", owner=user)  # relational rows + audit entry
    documents.put("tx.docs", "d1", {"title": "hello", "tags": ["a"]})
    vectors.upsert("tx.vectors", [VectorItem("v1", unit(1), {"doc": "d1"})], model=MODEL)
    graph.bulk_load(
        nodes=[Node("TxNode", "a", {"n": 1}), Node("TxNode", "b", {"n": 2})],
        edges=[Edge("TX_LINK", NodeRef("TxNode", "a"), NodeRef("TxNode", "b"), {"w": 1})],
    )
    assert workspace.pk
    if fail_with is not None:
        raise fail_with


def nothing_written(documents, vectors, graph) -> bool:
    return (
        not Workspace.objects.filter(name="tx-ws").exists()
        and not AuditEntry.objects.filter(action="workspace.create", changes__name="tx-ws").exists()
        and documents.get("tx.docs", "d1") is None
        and vectors.get("tx.vectors", "v1") is None
        and graph.get_node(NodeRef("TxNode", "a")) is None
        and graph.get_node(NodeRef("TxNode", "b")) is None
        and graph.cypher("MATCH ()-[e:TX_LINK]->() RETURN count(e)", columns=("n",)) == [{"n": 0}]
    )


@pytest.mark.django_db
def test_all_four_models_commit_together(user, stores):
    documents, vectors, graph = stores
    with transaction.atomic():
        write_all_four(user, documents, vectors, graph)
    assert Workspace.objects.filter(name="tx-ws").exists()
    assert documents.get("tx.docs", "d1") == {"title": "hello", "tags": ["a"]}
    assert vectors.get("tx.vectors", "v1").metadata == {"doc": "d1"}
    assert [n.key for n in graph.neighbours(NodeRef("TxNode", "a"))] == ["b"]


@pytest.mark.django_db
def test_failure_midway_leaves_nothing_in_any_of_the_four(user, stores):
    documents, vectors, graph = stores
    with pytest.raises(RuntimeError, match="boom"):
        with transaction.atomic():
            write_all_four(user, documents, vectors, graph, fail_with=RuntimeError("boom"))
    assert nothing_written(documents, vectors, graph)


@pytest.mark.django_db
def test_bad_input_midway_rolls_back_the_earlier_writes(user, stores):
    documents, vectors, graph = stores
    with pytest.raises(DimensionMismatch):
        with transaction.atomic():
            services.workspace_create(name="tx-ws", owner=user)
            documents.put("tx.docs", "d1", {"title": "hello"})
            graph.upsert_node("TxNode", "a", {"n": 1})
            vectors.upsert("tx.vectors", [VectorItem("v1", [0.1, 0.2], {})], model=MODEL)
    assert nothing_written(documents, vectors, graph)
