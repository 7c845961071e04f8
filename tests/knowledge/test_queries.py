"""Every graph query on a graph built in the test, with known answers, and the same keys in a
second workspace never leaking into the first (workspace isolation of every query)."""

from __future__ import annotations

import pytest

from knowledge import selectors
from tests.knowledge.graphs import build

pytestmark = pytest.mark.django_db


@pytest.fixture
def graphs(workspace, other_workspace):
    assert not build(workspace.id).errors
    # the same keys in another workspace, wired differently: socket -> evil, and app -> evil
    assert not build(other_workspace.id, edges=[("app", "evil"), ("socket", "evil"), ("evil", "http")]).errors
    return workspace.id, other_workspace.id


def keys(nodes):
    return [n.key for n in nodes]


def test_neighbours(graphs):
    ws, _ = graphs
    assert keys(selectors.neighbours(workspace_id=ws, key="app", direction="out")) == ["db", "web"]
    assert keys(selectors.neighbours(workspace_id=ws, key="http", direction="in")) == ["cli", "web"]
    assert keys(selectors.neighbours(workspace_id=ws, key="http")) == ["cli", "socket", "web"]
    assert selectors.neighbours(workspace_id=ws, key="tools") == []
    assert selectors.neighbours(workspace_id=ws, key="app", labels=["NO_SUCH"]) == []


def test_k_hop(graphs):
    ws, _ = graphs
    found = selectors.k_hop(workspace_id=ws, key="app", k=3, direction="out")
    assert [(n.key, n.depth) for n in found] == [("db", 1), ("web", 1), ("http", 2), ("socket", 2)]
    assert keys(selectors.k_hop(workspace_id=ws, key="app", k=1, direction="out")) == ["db", "web"]


def test_k_hop_keys_are_k_hop_without_properties(graphs):
    from knowledge import queries

    ws, other = graphs
    for workspace_id, key, k in ((ws, "socket", 6), (ws, "app", 2), (other, "socket", 3)):
        full = selectors.k_hop(workspace_id=workspace_id, key=key, k=k, limit=3)
        assert queries.k_hop_keys(workspace_id=workspace_id, key=key, k=k, limit=3) == [
            (n.key, n.kind, n.depth) for n in full
        ]
    assert ("evil", "entity", 1) not in queries.k_hop_keys(workspace_id=ws, key="socket", k=6)
    with pytest.raises(selectors.NodeMissing):
        queries.k_hop_keys(workspace_id=ws, key="evil")


def test_reverse_transitive_with_depth(graphs):
    ws, _ = graphs
    found = selectors.dependents(workspace_id=ws, key="socket", depth=3)
    assert [(n.key, n.depth) for n in found] == [("db", 1), ("http", 1), ("app", 2), ("cli", 2), ("web", 2)]
    assert keys(selectors.dependents(workspace_id=ws, key="socket", depth=1)) == ["db", "http"]


def test_shortest_path(graphs):
    ws, _ = graphs
    path = selectors.shortest_path(workspace_id=ws, source="cli", target="socket", direction="out")
    assert keys(path.nodes) == ["cli", "http", "socket"]
    assert [(e.source, e.target, e.label) for e in path.edges] == [
        ("cli", "http", "DEPENDS_ON"),
        ("http", "socket", "DEPENDS_ON"),
    ]
    assert selectors.shortest_path(workspace_id=ws, source="socket", target="app", direction="out") is None
    assert selectors.shortest_path(workspace_id=ws, source="app", target="tools") is None


def test_isolation_same_keys_other_answers(graphs):
    ws, other = graphs
    assert keys(selectors.neighbours(workspace_id=other, key="app", direction="out")) == ["evil"]
    assert keys(selectors.neighbours(workspace_id=ws, key="app", direction="out")) == ["db", "web"]
    assert "evil" not in keys(selectors.k_hop(workspace_id=ws, key="socket", k=6))
    assert "evil" not in keys(selectors.dependents(workspace_id=ws, key="http", depth=6))
    with pytest.raises(selectors.NodeMissing):  # "evil" exists only in the other workspace
        selectors.shortest_path(workspace_id=ws, source="app", target="evil")
    with pytest.raises(selectors.NodeMissing):
        selectors.neighbours(workspace_id=ws, key="evil")
    nodes, edges = selectors.subgraph(workspace_id=ws, key="socket", depth=3)
    assert "evil" not in keys(nodes) and all("evil" not in (e.source, e.target) for e in edges)
    other_nodes, _ = selectors.subgraph(workspace_id=other, key="socket", depth=3)
    assert set(keys(other_nodes)) == {"socket", "evil", "app", "http"}


def test_bad_arguments_are_query_errors(graphs):
    ws, _ = graphs
    with pytest.raises(selectors.GraphQueryError):
        selectors.k_hop(workspace_id=ws, key="app", k=99)
    with pytest.raises(selectors.GraphQueryError):
        selectors.neighbours(workspace_id=ws, key="doc:abc")
    with pytest.raises(selectors.GraphQueryError):
        selectors.neighbours(workspace_id=ws, key="")
    with pytest.raises(selectors.NodeMissing):
        selectors.neighbours(workspace_id=ws, key="'; MATCH (n) DETACH DELETE n; //")


def test_documents_and_entities(workspace, structured_only):
    from tests.knowledge.helpers import doc, drain, ingest

    ids = ingest(workspace.id, doc("a.md", "x", name="pkg-a", depends=["pkg-b"]), doc("b.md", "x", name="pkg-b"))
    drain()
    ents = selectors.document_entities(workspace_id=workspace.id, document_id=ids["a.md"])
    assert keys(ents) == ["pkg-a", "pkg-b"]
    docs = selectors.entity_documents(workspace_id=workspace.id, key="pkg-b")
    assert sorted(n.document_id for n in docs) == sorted(ids.values())
    edges = selectors.document_edges(workspace_id=workspace.id, document_id=ids["a.md"])
    assert ("DEPENDS_ON", "pkg-a", "pkg-b") in {(e.label, e.source, e.target) for e in edges}
