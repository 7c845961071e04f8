"""Issue 6 defect 8: the worker embeds an ingest's documents in small committed slices, and never
holds a transaction (row locks) while the embedding provider works.

Before: the outbox handler embedded the whole batch (500 documents, ~2,000 chunks) inside the
relay's transaction; every chunk row it marked stayed locked until the last provider call
returned, so a re-ingest of the same documents (which deletes their old chunks) waited for all of
it (127 s instead of 15-35 s), and a worker restart threw every vector away. Measured here with
pg_stat_activity / pg_locks while a provider call is held open by the fake API."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import override_settings

from content import services, stores
from content.embeddings import EmbeddingError
from content.models import Chunk, Document
from core import outbox
from core.models import OutboxEvent
from tests.content.helpers import ingest

MODEL = "text-embedding-3-small"


def items(n: int, version: str = "v1") -> list[services.IngestItem]:
    return [
        services.IngestItem(external_id=f"d{i}", title=f"doc {i}", text=f"Document {i} {version}: short text.")
        for i in range(n)
    ]


def vector_count(workspace_id: int) -> int:
    return stores.vectors().count(stores.chunk_collection(workspace_id=workspace_id, model=MODEL))


@pytest.fixture
def sliced(openai_settings):
    with override_settings(STRATA_EMBEDDING_SLICE_SIZE=4, STRATA_EMBEDDING_BATCH_SIZE=4, STRATA_OPENAI_MAX_RETRIES=0):
        yield openai_settings


@pytest.mark.django_db(transaction=True)
def test_a_failure_keeps_the_slices_already_committed(workspace, sliced):
    ids = ingest(workspace.pk, *items(20), embed=False)  # one chunk each: 5 slices of 4
    sliced.script = [("ok",), ("ok",), ("status", 400, {"error": {"message": "bad input"}})]
    with pytest.raises(EmbeddingError):
        services.document_embed(document_ids=list(ids.values()))
    # the first two slices are committed: their chunks marked, their vectors stored
    assert Chunk.objects.exclude(embedding_model="").count() == 8
    assert vector_count(workspace.pk) == 8
    assert Document.objects.filter(status=Document.Status.READY).count() == 8

    sent = len(sliced.requests)
    assert services.document_embed(document_ids=list(ids.values())) == 12  # only the rest
    assert len(sliced.requests) - sent == 3
    assert vector_count(workspace.pk) == 20
    assert Document.objects.filter(status=Document.Status.READY).count() == 20


def _locks_of(pid: int) -> tuple[str, list[tuple[str, str]]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [pid])
        (state,) = cursor.fetchone()
        cursor.execute("SELECT locktype, mode FROM pg_locks WHERE pid = %s AND granted", [pid])
        return state, sorted(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_reingest_does_not_wait_for_the_worker_embedding(workspace, sliced):
    import time

    ingest(workspace.pk, *items(12), embed=False)  # the event: 12 chunks to embed, 3 slices
    released = threading.Event()
    sliced.script = [("ok",), ("hold", released)]  # slice 2's provider call hangs until released
    worker: dict = {}

    def work() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                worker["pid"] = cursor.fetchone()[0]
            worker["result"] = outbox.relay(batch_size=1)
        except Exception as exc:  # pragma: no cover (reported below)
            worker["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(sliced.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(sliced.requests) == 2, "the worker never reached its second provider call"

        # While the provider works, the worker holds no transaction and no row or table lock
        # (only the relay's session advisory lock on its event).
        state, locks = _locks_of(worker["pid"])
        assert state == "idle", (state, locks)
        assert {locktype for locktype, _ in locks} <= {"advisory", "virtualxid"}, locks
        assert Chunk.objects.exclude(embedding_model="").count() == 4  # slice 1 is committed

        # A re-ingest of the same documents (new text: their chunks are replaced) goes through
        # while the provider call is still held.
        report = services.document_ingest(workspace_id=workspace.pk, items=items(12, "v2"))
        assert report.counts["updated"] == 12
        assert not released.is_set() and thread.is_alive()
    finally:
        released.set()
        thread.join(60)
    assert "error" not in worker and worker["result"].delivered == 1

    # The worker's slices made from the old text were not recorded (the content hash changed);
    # the re-ingest's event embeds the new chunks; no vector is left without its chunk.
    while outbox.relay().processed:
        pass
    assert not OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).exists()
    chunk_ids = set(Chunk.objects.filter(workspace_id=workspace.pk).values_list("id", flat=True))
    assert len(chunk_ids) == 12 and Chunk.objects.filter(embedding_model=MODEL).count() == 12
    collection = stores.chunk_collection(workspace_id=workspace.pk, model=MODEL)
    stored = {int(key) for key in stores.vectors().get_many(collection, [str(i) for i in chunk_ids])}
    assert stored == chunk_ids and vector_count(workspace.pk) == 12
    assert Document.objects.filter(status=Document.Status.READY).count() == 12
