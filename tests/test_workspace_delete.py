"""workspace_delete: the rows go in one transaction, and every store's projections of the
workspace follow (inline on PostgreSQL, from the outbox on a dedicated store); another workspace
keeps everything. Through the admin only owners can do it."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.urls import reverse

from content import bm25_workspaces
from content import stores as content_stores
from content.models import Chunk, Document
from content.services import IngestItem, document_ingest
from core import services
from core.models import AuditEntry, Membership, OutboxEvent, Workspace
from core.storage import routing, storages
from core.storage.falkordb import FalkorGraphStore
from core.storage.filters import Eq
from knowledge import stores as knowledge_stores
from knowledge.models import Entity, EntityType
from tests.knowledge.graphs import build
from tests.knowledge.helpers import drain
from tests.moving import AGE
from tests.test_admin_roles import staff_member

HASHING = "hashing-1536-v2"


def fill(workspace_id: int) -> list[int]:
    """Two documents (embedded, with own BM25 tables), a knowledge graph and a fact collection."""
    items = [IngestItem(f"d{i}", f"Doc {i}", f"Barn owls hunt voles at night, story {i}.") for i in range(2)]
    report = document_ingest(workspace_id=workspace_id, items=items, embed=True)
    assert not report.failed
    bm25_workspaces.ensure(workspace_id)
    # a type of its own ("gadget"): entities hold it with a restricting foreign key
    assert not build(workspace_id, extra=[{"kind": "node", "key": "g1", "label": "Gadget"}]).errors
    assert EntityType.objects.filter(workspace_id=workspace_id, name="gadget").exists()
    facts = knowledge_stores.fact_collection(workspace_id=workspace_id, model=HASHING)
    knowledge_stores.vectors().create_collection(facts, dimension=1536, model=HASHING)
    drain()
    return [r.document_id for r in report.results]


def held(workspace_id: int) -> dict[str, int]:
    """What each store holds of the workspace."""
    graph, kgraph = content_stores.graph(), knowledge_stores.graph()
    mine = Eq("workspace_id", workspace_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [bm25_workspaces.names(workspace_id).chunk_table])
        bm25 = int(cursor.fetchone()[0])
    return {
        "documents": Document.objects.filter(workspace_id=workspace_id).count(),
        "chunks": Chunk.objects.filter(workspace_id=workspace_id).count(),
        "entities": Entity.objects.filter(workspace_id=workspace_id).count(),
        "bodies": len(content_stores.documents().find_ids(content_stores.DOCUMENTS_COLLECTION, where=mine)),
        "document_nodes": graph.count_nodes(content_stores.GRAPH_LABEL, where=mine),
        "entity_nodes": kgraph.count_nodes(knowledge_stores.ENTITY_LABEL, where=mine),
        "chunk_collections": len(
            [c for c in content_stores.vectors().list_collections() if f".ws{workspace_id}." in c.name]
        ),
        "fact_collections": len(
            [c for c in knowledge_stores.vectors().list_collections() if f"facts.ws{workspace_id}." in c.name]
        ),
        "bm25_tables": bm25,
    }


@pytest.mark.django_db
def test_delete_clears_every_store_and_keeps_the_other_workspace(user, workspace, other_workspace):
    fill(workspace.pk)
    fill(other_workspace.pk)
    before = held(workspace.pk)
    assert all(before.values()), before  # every store holds something of it
    theirs = held(other_workspace.pk)

    services.workspace_delete(workspace=workspace, actor=user)
    drain()  # the full-text tables go after the commit

    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert set(held(workspace.pk).values()) == {0}, held(workspace.pk)
    assert held(other_workspace.pk) == theirs
    entry = AuditEntry.objects.get(action="workspace.delete")
    assert entry.workspace_id == workspace.pk and entry.actor_id == user.pk
    assert entry.changes == {"name": "Alice's lab", "slug": workspace.slug}
    event = OutboxEvent.objects.get(event_type=services.EVENT_WORKSPACE_DELETED)
    assert event.status == OutboxEvent.Status.DELIVERED
    # deleting it again (a double-submitted form) does nothing and records nothing
    services.workspace_delete(workspace=workspace, actor=user)
    assert AuditEntry.objects.filter(action="workspace.delete").count() == 1


@pytest.fixture
def falkor_graph(settings):
    """The knowledge graph on FalkorDB: its writes and the deletion's arrive from the outbox."""
    settings.STRATA_STORAGE = {
        **settings.STRATA_STORAGE,
        "knowledge": {
            "graph": {
                "DEFAULT": "falkordb",
                "age": AGE,
                "falkordb": {
                    "BACKEND": "core.storage.falkordb.FalkorGraphStore",
                    "graph": f"ws_{uuid.uuid4().hex[:12]}",
                },
            }
        },
    }
    storages.reset()
    routing.clear_cache()
    yield
    falkor = storages.backend("knowledge", "graph", "falkordb")
    if isinstance(falkor, FalkorGraphStore):
        falkor.drop_graph()
        falkor.close()
    storages.reset()
    routing.clear_cache()


@pytest.mark.django_db(transaction=True)
def test_delete_reaches_a_dedicated_graph_store_from_the_outbox(falkor_graph, user, workspace, other_workspace):
    for ws in (workspace, other_workspace):
        assert not build(ws.pk, extra=[{"kind": "node", "key": "g1", "label": "Gadget"}]).errors
    drain()
    graph = knowledge_stores.graph()
    assert graph.features.vendor == "falkordb"
    count = lambda ws: graph.count_nodes(knowledge_stores.ENTITY_LABEL, where=Eq("workspace_id", ws.pk))  # noqa: E731
    theirs = count(other_workspace)
    assert count(workspace) == theirs > 0

    services.workspace_delete(workspace=workspace, actor=user)
    assert count(workspace) == theirs  # not yet: FalkorDB does not share the transaction
    drain()
    assert count(workspace) == 0 and count(other_workspace) == theirs
    assert knowledge_stores.graph().count_edges() > 0  # the other workspace's edges are kept


@pytest.mark.django_db
def test_only_owners_delete_a_workspace_in_the_admin(client, django_user_model, user, workspace):
    editor = staff_member(django_user_model, "eddie", workspace, Membership.Role.EDITOR)
    owner = staff_member(django_user_model, "olga", workspace, Membership.Role.OWNER)
    url = reverse("admin:core_workspace_delete", args=[workspace.pk])

    client.force_login(editor)
    assert client.post(url, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:core_workspace_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [workspace.pk], "post": "yes"})
    assert Workspace.objects.filter(pk=workspace.pk).exists()

    client.force_login(owner)
    page = client.get(url)
    assert page.status_code == 200 and b"documents, chunks, vectors" in page.content
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert AuditEntry.objects.get(action="workspace.delete").actor_id == owner.pk
