"""content/ingest_ahead.py (``STRATA_INGEST_VECTORS_FIRST``): every batch's vectors are staged
under ids allocated ahead, the index is built while the rows are written, and the outcome is
the one of the usual bulk path: the same rows, vectors and search answers."""

from __future__ import annotations

import numpy as np
import pytest

from content import services, stores
from content.models import Chunk, Document, PendingLoad
from core import outbox
from tests.content.test_bulk_ingest import batches, ingest
from tests.content.test_vector_bulk import answers, collection_of, hidden_collections, items

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ahead(settings):
    settings.STRATA_VECTOR_BULK_MIN_ROWS = 10
    settings.STRATA_INGEST_WORKERS = 2
    settings.STRATA_INGEST_VECTORS_FIRST = True


def vector_keys(workspace_id: int) -> set[str]:
    page = stores.vectors().scan(collection_of(workspace_id), limit=10_000, with_vectors=False)
    return {item.key for item in page.items}


def test_vectors_first_builds_while_the_rows_are_written_and_answers_like_the_usual_path(
    workspace, other_workspace, ahead, settings
):
    services.document_ingest(workspace_id=workspace.pk, items=items(40)[:4], embed=True)  # live vectors
    before = vector_keys(workspace.pk)
    reports, load = ingest(workspace.pk, batches(items(40)[4:], 6), workers=2, finish=False)
    assert sum(r.counts["added"] for r in reports) == 36
    assert all(vector_load.builder is not None for vector_load in load.loads)  # built ahead
    assert vector_keys(workspace.pk) == before  # nothing visible before the swap
    assert set(Document.objects.filter(workspace=workspace).values_list("status", flat=True)) == {"pending", "ready"}
    load.finish()

    chunk_ids = {str(i) for i in Chunk.objects.filter(workspace=workspace).values_list("id", flat=True)}
    assert vector_keys(workspace.pk) == chunk_ids
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()
    assert not Chunk.objects.filter(workspace=workspace, embedding_model="").exists()
    assert not PendingLoad.objects.exists() and hidden_collections() == []

    settings.STRATA_INGEST_VECTORS_FIRST = False
    services.document_ingest(workspace_id=other_workspace.pk, items=items(40)[:4], embed=True)
    ingest(other_workspace.pk, batches(items(40)[4:], 6), workers=2)
    query = np.asarray(stores.vectors().get(collection_of(workspace.pk), min(chunk_ids)).vector)
    assert answers(workspace.pk, query) == answers(other_workspace.pk, query)


def test_a_document_prepared_twice_keeps_its_last_version_and_the_worker_embeds_it(workspace, ahead):
    first, second = items(24)[:12], items(24, version="v2")[10:24]  # d10, d11 in both batches
    ingest(workspace.pk, [first, second], workers=2)
    d10 = Document.objects.get(workspace=workspace, external_id="d10")
    assert "v2" in Chunk.objects.filter(document=d10).first().text
    assert d10.status == Document.Status.PENDING  # another id than prepared: no staged vector for it
    chunk_ids = {str(i) for i in Chunk.objects.filter(workspace=workspace).values_list("id", flat=True)}
    staged = vector_keys(workspace.pk)
    assert staged <= chunk_ids  # no vector without its chunk
    while outbox.relay().delivered:
        pass
    assert vector_keys(workspace.pk) == chunk_ids
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()


def test_reingesting_unchanged_documents_vectors_first_writes_nothing(workspace, ahead):
    ingest(workspace.pk, batches(items(20), 5), workers=2)
    keys = vector_keys(workspace.pk)
    chunks = set(Chunk.objects.filter(workspace=workspace).values_list("id", "embedding_model"))
    reports = ingest(workspace.pk, batches(items(20), 5), workers=2)
    assert {r.counts["unchanged"] for r in reports} == {5}
    assert vector_keys(workspace.pk) == keys  # the staged vectors of the allocated ids were dropped
    assert set(Chunk.objects.filter(workspace=workspace).values_list("id", "embedding_model")) == chunks
    assert not Document.objects.filter(workspace=workspace).exclude(status=Document.Status.READY).exists()
