"""content.pending_loads: a staged bulk load's ingest batches write their chunks carrying the
model, with no later UPDATE of the chunk rows. Until the load finishes its documents stay
pending, the worker waits for it, and nothing says "ready"; an aborted or dead load is undone
set-based and the worker embeds its chunks; vanished chunks lose their staged vectors before
the index build."""

from __future__ import annotations

from contextlib import closing

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from content import pending_loads, services, stores
from content.models import Chunk, Document, PendingLoad, PendingLoadDocument
from core import locks, outbox
from core.models import OutboxEvent
from core.storage.ports import StoreUnavailable
from tests.content.test_bulk_ingest import batches, ingest
from tests.content.test_vector_bulk import answers, collection_of, hidden_collections, items

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bulk(settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10
    settings.STRATA_INGEST_WORKERS = 2


def chunk_versions(workspace_id: int) -> dict[int, str]:
    """Each chunk's row version (its xmin changes with every UPDATE of the row)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM content_chunk WHERE workspace_id = %s", [workspace_id])
        return dict(cursor.fetchall())


def vector_keys(workspace_id: int) -> set[str]:
    page = stores.vectors().scan(collection_of(workspace_id), limit=10_000, with_vectors=False)
    return {item.key for item in page.items}


def test_chunks_carry_the_model_from_their_insert_but_nothing_is_ready_before_the_swap(workspace, bulk):
    services.document_ingest(workspace_id=workspace.pk, items=items(30)[:4], embed=True)  # live vectors
    before = vector_keys(workspace.pk)
    reports, load = ingest(workspace.pk, batches(items(30)[4:], 6), workers=2, finish=False)
    doc_ids = [r.document_id for report in reports for r in report.results]
    versions = chunk_versions(workspace.pk)

    loaded = Chunk.objects.filter(document_id__in=doc_ids)
    assert loaded.exists() and not loaded.filter(embedding_model="").exists()  # written carrying the model
    assert PendingLoadDocument.objects.filter(load_id=load.record).count() == 26
    assert vector_keys(workspace.pk) == before  # searches still use the old collection and index
    assert set(Document.objects.filter(id__in=doc_ids).values_list("status", flat=True)) == {"pending"}
    with pytest.raises(StoreUnavailable):  # the worker waits for the load (the outbox defers the event)
        services.document_embed(document_ids=doc_ids[:3])
    assert set(Document.objects.filter(id__in=doc_ids).values_list("status", flat=True)) == {"pending"}

    assert load.finish() == loaded.count()
    assert vector_keys(workspace.pk) == before | {str(i) for i in loaded.values_list("id", flat=True)}
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()
    assert chunk_versions(workspace.pk) == versions  # no chunk row was updated to mark it
    assert not PendingLoad.objects.exists() and not PendingLoadDocument.objects.exists()
    assert hidden_collections() == []
    assert services.document_embed(document_ids=doc_ids) == 0  # the worker then finds nothing to do


def test_the_outbox_defers_a_running_loads_embedding_events_however_long_it_runs(workspace, bulk, settings):
    settings.STRATA_OUTBOX_MAX_ATTEMPTS = 1  # a counted attempt would make each a dead letter at once
    reports, load = ingest(workspace.pk, batches(items(20), 5), workers=2, finish=False)
    doc_ids = [r.document_id for report in reports for r in report.results]
    events = OutboxEvent.objects.filter(event_type=services.EVENT_INGESTED, workspace_id=workspace.pk)
    for _ in range(3):  # the worker comes back again and again while the load runs
        events.update(available_at=timezone.now())
        while outbox.relay().processed:
            pass
        assert set(events.values_list("status", "attempts")) == {(OutboxEvent.Status.PENDING, 0)}
        assert all(e.startswith("deferred (not a failure)") for e in events.values_list("last_error", flat=True))
        assert all(e > timezone.now() for e in events.values_list("available_at", flat=True))

    load.finish()
    events.update(available_at=timezone.now())
    while outbox.relay().processed:
        pass
    assert set(events.values_list("status", flat=True)) == {OutboxEvent.Status.DELIVERED}
    assert not Document.objects.filter(id__in=doc_ids).exclude(status=Document.Status.READY).exists()


def test_an_aborted_load_unmarks_its_chunks_and_the_worker_embeds_them(workspace, other_workspace, bulk):
    reports, load = ingest(workspace.pk, batches(items(24), 6), workers=2, finish=False)
    doc_ids = [r.document_id for report in reports for r in report.results]
    load.abort()
    assert not Chunk.objects.filter(document_id__in=doc_ids).exclude(embedding_model="").exists()
    assert not PendingLoad.objects.exists() and not PendingLoadDocument.objects.exists()
    assert vector_keys(workspace.pk) == set() and hidden_collections() == []

    while outbox.relay().delivered:  # the worker: the ingest events and the load's "unembedded" ones
        pass
    chunk_ids = {str(i) for i in Chunk.objects.filter(document_id__in=doc_ids).values_list("id", flat=True)}
    assert vector_keys(workspace.pk) == chunk_ids
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()

    # the same answers as the documents ingested through a load that finished
    ingest(other_workspace.pk, batches(items(24), 6), workers=2)
    query = np.asarray(stores.vectors().get(collection_of(workspace.pk), min(chunk_ids)).vector)
    assert answers(workspace.pk, query) == answers(other_workspace.pk, query)


def test_a_dead_loads_documents_are_released_by_the_worker(workspace, bulk):
    reports, load = ingest(workspace.pk, batches(items(20), 5), workers=2, finish=False)
    doc_ids = [r.document_id for report in reports for r in report.results]
    # the loading process dies: its session's locks go, its staged copy stays until the next load
    record = load.record
    pending_loads._OPEN.discard(record)
    locks.advisory_session_unlock(pending_loads.lock_name(record))
    for vector_load in load.loads:
        vector_load.abort()

    assert services.document_embed(document_ids=doc_ids) == Chunk.objects.filter(document_id__in=doc_ids).count()
    assert not PendingLoad.objects.exists() and not PendingLoadDocument.objects.exists()
    assert vector_keys(workspace.pk) == {
        str(i) for i in Chunk.objects.filter(document_id__in=doc_ids).values_list("id", flat=True)
    }
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()


def test_a_document_changed_during_the_load_ends_with_the_vectors_of_its_new_text(workspace, bulk):
    reports, load = ingest(workspace.pk, batches(items(20), 5), workers=2, finish=False)
    changed = items(20, version="v2")[3]
    old_chunks = set(Chunk.objects.filter(document__external_id=changed.external_id).values_list("id", flat=True))
    # the loading session changes it (as the ingest command's thread may); its deletes reach the copy
    services.document_ingest(workspace_id=workspace.pk, items=[changed])
    # and a chunk vanishes without its vector delete reaching the copy: the anti-join drops it
    vanished = Chunk.objects.filter(document__external_id="d5").order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM content_chunk WHERE id = %s", [vanished.pk])

    load.finish()
    keys = vector_keys(workspace.pk)
    assert not {str(i) for i in old_chunks} & keys and str(vanished.pk) not in keys
    document = Document.objects.get(workspace=workspace, external_id=changed.external_id)
    assert document.status == Document.Status.PENDING  # its new chunks wait for the worker
    assert not Chunk.objects.filter(document=document).exclude(embedding_model="").exists()

    while outbox.relay().delivered:
        pass
    new_chunks = {str(i) for i in Chunk.objects.filter(document=document).values_list("id", flat=True)}
    assert new_chunks <= vector_keys(workspace.pk)
    document.refresh_from_db()
    assert document.status == Document.Status.READY


def test_reingesting_unchanged_documents_writes_nothing(workspace, bulk):
    ingest(workspace.pk, batches(items(20), 5), workers=2)
    versions = chunk_versions(workspace.pk)
    load = services.embedding_bulk_load(workspace_id=workspace.pk, rows=20)
    assert load is not None
    with closing(
        services.document_ingest_batches(
            workspace_id=workspace.pk, batches=batches(items(20), 5), embed=True, bulk=load, workers=2
        )
    ) as outcomes:
        assert {o.get().counts["unchanged"] for o in outcomes} == {5}
    assert load.finish() == 0
    assert chunk_versions(workspace.pk) == versions
    assert not PendingLoad.objects.exists()
