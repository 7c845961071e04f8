"""Content's large embedding loads through the bulk vector path (content/vector_bulk.py):
``document_ingest`` with many chunks, ``manage.py ingest --embed`` for a whole file and
``documents_reembed`` stage their vectors, build the index once, then mark the documents; the
answers are those of the slice-by-slice path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from content import services, stores
from content.models import Chunk, Document

pytestmark = pytest.mark.django_db(transaction=True)


def items(n: int, version: str = "v1") -> list[services.IngestItem]:
    topics = ["postgres vacuum", "vector index", "graph traversal", "redis cache", "django forms"]
    return [
        services.IngestItem(
            external_id=f"d{i}", title=f"doc {i}", text=f"{topics[i % 5]} note {i} {version}: about {topics[i % 5]}."
        )
        for i in range(n)
    ]


def collection_of(workspace_id: int) -> str:
    return stores.chunk_collection(
        workspace_id=workspace_id, model=services.workspace_embedding_model(workspace_id=workspace_id)
    )


def hidden_collections() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM strata_vector_collection WHERE name LIKE '#%%'")
        return [row[0] for row in cursor.fetchall()]


def answers(workspace_id: int, query: np.ndarray) -> list[tuple[float, str]]:
    """(distance, external id) of every chunk by HNSW search (sorted: chunk ids differ between
    workspaces, so equally distant hits are put in one order)."""
    hits = stores.vectors().search(
        collection_of(workspace_id),
        query,
        model=services.workspace_embedding_model(workspace_id=workspace_id),
        k=Chunk.objects.filter(workspace_id=workspace_id).count(),
    )
    by_id = dict(Chunk.objects.filter(id__in=[int(h.key) for h in hits]).values_list("id", "document__external_id"))
    return sorted((round(h.distance, 5), by_id[int(h.key)]) for h in hits)


def staged_loads(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "staged load of" in r.getMessage()]


def test_a_large_ingest_batch_stages_its_vectors_and_answers_like_the_slice_path(
    workspace, other_workspace, settings, caplog
):
    caplog.set_level("INFO", logger="core.storage.postgres.vector_load")
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 20
    report = services.document_ingest(workspace_id=workspace.pk, items=items(40), embed=True)
    assert len(staged_loads(caplog)) == 1
    assert report.counts["added"] == 40
    collection = collection_of(workspace.pk)
    assert stores.vectors().count(collection) == Chunk.objects.filter(workspace=workspace).count() >= 40
    assert not Chunk.objects.filter(workspace=workspace, embedding_model="").exists()
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()
    assert hidden_collections() == []

    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10**9  # the other workspace: vectors in the batch's transaction
    services.document_ingest(workspace_id=other_workspace.pk, items=items(40), embed=True)
    query = np.asarray(
        stores.vectors().get(collection, str(Chunk.objects.filter(workspace=workspace).first().id)).vector
    )
    assert len(staged_loads(caplog)) == 1  # the second workspace's vectors went in live
    assert answers(workspace.pk, query) == answers(other_workspace.pk, query)


def test_ingest_embed_loads_a_whole_file_with_one_index_build(workspace, settings, tmp_path, caplog):
    caplog.set_level("INFO", logger="core.storage.postgres.vector_load")
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 25
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        "".join(json.dumps({"external_id": i.external_id, "title": i.title, "text": i.text}) + "\n" for i in items(30))
    )
    call_command("ingest", str(path), "--workspace", str(workspace.pk), "--batch-size", "7", "--embed", verbosity=0)
    collection = collection_of(workspace.pk)
    assert Document.objects.filter(workspace=workspace, status=Document.Status.READY).count() == 30
    assert stores.vectors().count(collection) == Chunk.objects.filter(workspace=workspace).count()
    assert hidden_collections() == []
    [line] = staged_loads(caplog)  # one load for 5 batches (each alone too small to be staged)
    assert f"{collection}: staged load of 30 rows" in line


def test_reembedding_many_documents_replaces_their_vectors_in_one_load(workspace, settings, caplog):
    caplog.set_level("INFO", logger="core.storage.postgres.vector_load")
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10**9
    ids = services.document_ingest(workspace_id=workspace.pk, items=items(24), embed=True)
    collection = collection_of(workspace.pk)
    before = stores.vectors().count(collection)
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10
    settings.STRATA_VECTOR_BULK_FRACTION = 0.5  # 24 of 24 rows: staged
    document_ids = [r.document_id for r in ids.results]
    assert services.documents_reembed(workspace_id=workspace.pk, document_ids=document_ids) == 24
    assert stores.vectors().count(collection) == before
    assert len(staged_loads(caplog)) == 1
    assert hidden_collections() == []
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()


def test_a_small_batch_into_a_large_collection_stays_on_the_live_path(workspace, settings, caplog):
    caplog.set_level("INFO", logger="core.storage.postgres.vector_load")
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 5
    settings.STRATA_VECTOR_BULK_FRACTION = 0.5
    services.document_ingest(workspace_id=workspace.pk, items=items(30), embed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM strata_vector_collection WHERE name = %s", [collection_of(workspace.pk)])
        first_id = cursor.fetchone()[0]
    services.document_ingest(workspace_id=workspace.pk, items=items(36)[30:], embed=True)  # 6 of 36: live
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM strata_vector_collection WHERE name = %s", [collection_of(workspace.pk)])
        assert cursor.fetchone()[0] == first_id  # no swap
    assert len(staged_loads(caplog)) == 1  # the first batch only
    assert stores.vectors().count(collection_of(workspace.pk)) == 36


def test_a_bulk_reingest_of_changed_documents_leaves_no_vector_of_their_old_chunks(workspace, settings, tmp_path):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10**9
    services.document_ingest(workspace_id=workspace.pk, items=items(30), embed=True)
    old_chunks = {str(i) for i in Chunk.objects.filter(workspace=workspace).values_list("id", flat=True)}
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 20
    settings.STRATA_VECTOR_BULK_FRACTION = 0.4
    path = tmp_path / "changed.jsonl"
    path.write_text(
        "".join(
            json.dumps({"external_id": i.external_id, "title": i.title, "text": i.text}) + "\n"
            for i in items(30, version="v2")
        )
    )
    call_command("ingest", str(path), "--workspace", str(workspace.pk), "--batch-size", "10", "--embed", verbosity=0)
    collection = collection_of(workspace.pk)
    chunks = {str(i) for i in Chunk.objects.filter(workspace=workspace).values_list("id", flat=True)}
    assert not chunks & old_chunks  # every document changed: new chunks
    stored = {item.key for item in stores.vectors().scan(collection, limit=1000, with_vectors=False).items}
    assert stored == chunks  # the replaced chunks' vectors were deleted from the staged copy too
    assert hidden_collections() == []
