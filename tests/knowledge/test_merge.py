"""Entity resolution: merging duplicates moves the edges and keeps provenance; undo from the
audit log restores the rows and the graph exactly."""

from __future__ import annotations

import io
import json

import pytest

from knowledge import selectors, services
from knowledge.entities import KnowledgeInputError
from knowledge.models import Entity, Relation
from tests.knowledge.graphs import build
from tests.knowledge.helpers import doc, drain, graph_edges, graph_nodes, ingest

pytestmark = pytest.mark.django_db


def _rows(workspace_id):
    return sorted(
        Relation.objects.filter(workspace_id=workspace_id).values_list(
            "id", "label", "source_entity_id", "target_entity_id", "weight", "provenance", "document_id"
        )
    )


def test_merge_moves_edges_keeps_provenance_and_undo_restores(workspace, structured_only):
    # "HTTP" from the documents (structured extractor), "http-lib" from an import, same thing
    ingest(workspace.id, doc("web.md", "x", name="web", depends=["HTTP"]))
    drain()
    assert not build(workspace.id, edges=[("cli", "http-lib"), ("http-lib", "socket")]).errors
    http = Entity.objects.get(workspace=workspace, key="http")
    lib = Entity.objects.get(workspace=workspace, key="http-lib")
    rows_before, edges_before = _rows(workspace.id), graph_edges(workspace.id)
    entry = services.entity_merge(workspace_id=workspace.id, keep_id=http.pk, merge_id=lib.pk)
    drain()
    edges = graph_edges(workspace.id)
    assert ("DEPENDS_ON", "cli", "http") in edges and ("DEPENDS_ON", "http", "socket") in edges
    assert ("DEPENDS_ON", "web", "http") in edges
    assert not any("http-lib" in e[1:] for e in edges)
    assert "http-lib" not in graph_nodes(workspace.id)
    moved = Relation.objects.get(workspace=workspace, label="DEPENDS_ON", source_entity__key="cli")
    assert moved.target_entity_id == http.pk and moved.provenance == "import"  # provenance kept
    assert {e.provenance for e in Relation.objects.filter(target_entity=http)} == {"import", "extractor:structured"}
    http.refresh_from_db()
    assert "Http-Lib" in http.aliases
    assert keys(selectors.dependents(workspace_id=workspace.id, key="socket", depth=2)) == ["http", "cli", "web"]
    with pytest.raises(KnowledgeInputError):
        services.entity_merge(workspace_id=workspace.id, keep_id=http.pk, merge_id=lib.pk)
    # undo from the audit log
    services.entity_merge_undo(workspace_id=workspace.id, audit_entry_id=entry.pk)
    drain()
    assert _rows(workspace.id) == rows_before
    assert graph_edges(workspace.id) == edges_before
    http.refresh_from_db()
    assert http.aliases == [] and Entity.objects.get(pk=lib.pk).merged_into is None
    with pytest.raises(KnowledgeInputError):
        services.entity_merge_undo(workspace_id=workspace.id, audit_entry_id=entry.pk)


def keys(nodes):
    return [n.key for n in nodes]


def test_merge_folds_repeated_relations_and_drops_loops(workspace, other_workspace):
    assert not build(workspace.id, edges=[("a", "c"), ("b", "c"), ("a", "b")]).errors
    a, b = (Entity.objects.get(workspace=workspace, key=k) for k in "ab")
    before = _rows(workspace.id)
    entry = services.entity_merge(workspace_id=workspace.id, keep_id=a.pk, merge_id=b.pk)
    drain()
    folded = Relation.objects.get(workspace=workspace, source_entity=a, target_entity__key="c")
    assert folded.weight == 2.0
    assert not Relation.objects.filter(source_entity=a, target_entity=a).exists()
    assert graph_edges(workspace.id) == {("DEPENDS_ON", "a", "c")}
    services.entity_merge_undo(workspace_id=workspace.id, audit_entry_id=entry.pk)
    drain()
    assert _rows(workspace.id) == before
    assert graph_edges(workspace.id) == {("DEPENDS_ON", "a", "c"), ("DEPENDS_ON", "b", "c"), ("DEPENDS_ON", "a", "b")}
    # another workspace's entity can never be merged in, nor its merges undone here
    assert not build(other_workspace.id, edges=[("x", "y")]).errors
    x = Entity.objects.get(workspace=other_workspace, key="x")
    with pytest.raises(KnowledgeInputError):
        services.entity_merge(workspace_id=workspace.id, keep_id=a.pk, merge_id=x.pk)
    with pytest.raises(KnowledgeInputError):
        services.entity_merge_undo(workspace_id=other_workspace.id, audit_entry_id=entry.pk)


def test_resolve_merges_by_normalized_name_and_alias(workspace):
    data = [
        {
            "kind": "node",
            "key": "pg",
            "label": "Product",
            "properties": {"name": "PostgreSQL", "aliases": ["Postgres"]},
        },
        {"kind": "node", "key": "postgres", "label": "Product", "properties": {"name": " postgres. "}},
        {"kind": "node", "key": "pgsql", "label": "Product", "properties": {"name": "POSTGRESQL"}},
        {"kind": "node", "key": "mysql", "label": "Product", "properties": {"name": "MySQL"}},
        {"kind": "edge", "source": "postgres", "target": "mysql", "label": "RELATED_TO"},
    ]
    text = "\n".join(json.dumps(d) for d in data).encode()
    assert not services.graph_import(stream=io.BytesIO(text), name="p.jsonl", workspace_id=workspace.id).errors
    assert selectors.duplicate_groups(workspace_id=workspace.id) == [
        sorted(Entity.objects.filter(key__in=["pg", "postgres", "pgsql"]).values_list("id", flat=True))
    ]
    assert services.entities_resolve(workspace_id=workspace.id) == 2
    drain()
    assert set(Entity.objects.filter(workspace=workspace, merged_into=None).values_list("key", flat=True)) == {
        "pg",
        "mysql",
    }
    assert graph_edges(workspace.id) == {("RELATED_TO", "pg", "mysql")}
