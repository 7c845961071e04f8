"""document_delete: the document leaves all four stores in one transaction, and only from its
own workspace."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection
from psycopg import sql

from content import caching, services, stores
from content.embeddings import get_embedder
from content.models import Chunk, Document
from core.models import AuditEntry, OutboxEvent
from core.storage.ports import NodeRef, VectorItem
from tests.content.helpers import projected

pytestmark = pytest.mark.django_db

HASHING = "hashing-1536-v2"
LONG = " ".join(f"Sentence {i} of a long document." for i in range(100))


def ingest(workspace, *names: str) -> dict[str, int]:
    items = [services.IngestItem(external_id=n, title=n, text=f"{LONG} {n}") for n in names]
    report = services.document_ingest(workspace_id=workspace.pk, items=items, embed=True)
    projected()
    return {r.external_id: r.document_id for r in report.results}


def ref(document_id: int) -> NodeRef:
    return NodeRef(stores.GRAPH_LABEL, str(document_id))


def test_delete_removes_the_document_from_every_store(workspace, user, django_capture_on_commit_callbacks):
    ids = ingest(workspace, "a", "b")
    a, b = ids["a"], ids["b"]
    chunk_keys = [str(pk) for pk in Chunk.objects.filter(document_id=a).values_list("id", flat=True)]
    assert len(chunk_keys) > 1
    collection = stores.chunk_collection(workspace_id=workspace.pk, model=HASHING)
    # an edge from another node, and a second collection (as during a re-embed) holding its vectors
    graph = stores.graph()
    graph.define_edge_type("CITES")
    graph.upsert_edge("CITES", ref(b), ref(a))
    vectors = stores.vectors()
    vectors.create_collection(f"content.ws{workspace.pk}.other-model", dimension=1536, model="other-model")
    vector = get_embedder().embed(["x"])[0]
    vectors.upsert(
        f"content.ws{workspace.pk}.other-model", [VectorItem(k, vector) for k in chunk_keys], model="other-model"
    )
    version = caching.content_version(workspace_id=workspace.pk)

    with django_capture_on_commit_callbacks(execute=True):
        services.document_delete(workspace_id=workspace.pk, document_id=a, actor=user)
    projected()

    assert not Document.objects.filter(pk=a).exists()
    assert not Chunk.objects.filter(document_id=a).exists()
    assert stores.documents().get(stores.DOCUMENTS_COLLECTION, str(a)) is None
    assert all(vectors.get(collection, k) is None for k in chunk_keys)
    assert vectors.count(f"content.ws{workspace.pk}.other-model") == 0
    assert graph.get_node(ref(a)) is None
    assert graph.neighbours(ref(b), direction="both") == []  # its edges went with it
    # the other document is untouched
    assert Document.objects.filter(pk=b).exists() and graph.get_node(ref(b)) is not None
    assert vectors.count(collection) == Chunk.objects.filter(document_id=b).count()
    # event, audit, cache
    event = OutboxEvent.objects.get(event_type=services.EVENT_DELETED)
    assert event.payload == {
        "workspace_id": workspace.pk,
        "document_id": a,
        "external_id": "a",
        "title": "a",
        "chunk_ids": sorted(int(k) for k in chunk_keys),  # their vectors' projection needs them
    }
    entry = AuditEntry.objects.get(action="content.document.delete")
    assert entry.object_id == str(a) and entry.actor_id == user.pk
    assert caching.content_version(workspace_id=workspace.pk) > version  # cached pages and searches are old


def test_delete_refuses_another_workspaces_document(workspace, other_workspace):
    theirs = ingest(other_workspace, "theirs")["theirs"]
    with pytest.raises(Document.DoesNotExist):
        services.document_delete(workspace_id=workspace.pk, document_id=theirs)
    with pytest.raises(Document.DoesNotExist):
        services.document_delete(workspace_id=workspace.pk, document_id=987654321)
    assert Document.objects.filter(pk=theirs).exists()
    assert stores.documents().get(stores.DOCUMENTS_COLLECTION, str(theirs)) is not None
    assert stores.graph().get_node(ref(theirs)) is not None
    assert not OutboxEvent.objects.filter(event_type=services.EVENT_DELETED).exists()


def test_a_failed_delete_leaves_everything_in_place(workspace):
    doc = ingest(workspace, "a")["a"]
    collection = stores.chunk_collection(workspace_id=workspace.pk, model=HASHING)
    vectors_before = stores.vectors().count(collection)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION public.strata_test_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'forced failure for the test'; END $$"
        )
        cursor.execute(
            sql.SQL(
                "CREATE TRIGGER fail_audit BEFORE INSERT ON {} FOR EACH ROW EXECUTE FUNCTION public.strata_test_fail()"
            )
            .format(sql.Identifier(AuditEntry._meta.db_table))
            .as_string(connection.connection)
        )
    with pytest.raises(DatabaseError, match="forced failure"):
        services.document_delete(workspace_id=workspace.pk, document_id=doc)
    assert Document.objects.filter(pk=doc).exists() and Chunk.objects.filter(document_id=doc).exists()
    assert stores.documents().get(stores.DOCUMENTS_COLLECTION, str(doc)) is not None
    assert stores.vectors().count(collection) == vectors_before
    assert stores.graph().get_node(ref(doc)) is not None


def test_deleted_then_reingested_is_added_again(workspace):
    doc = ingest(workspace, "a")["a"]
    services.document_delete(workspace_id=workspace.pk, document_id=doc)
    again = ingest(workspace, "a")["a"]
    assert again != doc and Document.objects.get(pk=again).status == Document.Status.READY
