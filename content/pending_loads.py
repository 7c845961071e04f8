"""The record of an open bulk load whose chunks were written already carrying their model.

Marking a bulk load's chunks embedded after its index is swapped in used to update every chunk
row (a new row version in the chunk table's seven indexes, GIN and BM25 included: 0.39 ms of
CPU per chunk, a fifth of a 50,000-document ingest). Instead, an ingest batch that joins a
staged load (content/vector_bulk.py) INSERTs its chunks with the load's model and records its
documents here, in its own transaction, with the content hashes their vectors were made from.
The invariant, for every document with a ``PendingLoadDocument`` row:

- its chunks may carry the load's model although their vectors are not searchable yet; the
  document stays ``pending`` (``vector_slices.mark_embedded`` never marks it ready) until the
  load's ``complete`` marks it ready after the swap (``MARK_DOCUMENTS`` per transaction, on
  ``STRATA_INGEST_WORKERS`` connections), if its content hash is still the recorded one and
  all its chunks carry the model;
- the worker (``embedding.embed_documents``) calls ``settle`` first: a document of a load whose
  process is alive (its session holds the advisory lock ``content.load:<id>``) makes it raise
  ``LoadRunning`` (a ``StoreUnavailable``); the outbox handler defers the event
  (``core.outbox.Deferred``: back in 30 s, the attempt not counted), so however long the load
  runs its documents' events never become dead letters, and they are handled once it has ended;
- a load that is aborted, or whose process died (its lock is free: ``settle`` finds it), is
  ``release``d: its documents' chunks carrying its model are unmarked set-based, its records
  dropped and a ``content.documents.unembedded`` event makes the worker embed them.

So nothing says "embedded" or "ready" before the vectors are searchable, and no chunk is left
without a vector after an abort or a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing

from django.db import connection, transaction

from content import caching, stores
from content.models import Chunk, Document, PendingLoad, PendingLoadDocument
from core import locks, parallel
from core.services import outbox_publish
from core.storage.ports import StoreUnavailable

EVENT_UNEMBEDDED = "content.documents.unembedded"


class LoadRunning(StoreUnavailable):
    """Documents are in a bulk load whose process is still running: wait for it (module doc)."""


#: documents marked ready per transaction when a load completes
MARK_DOCUMENTS = 5000

#: the loads this process holds open (an advisory lock is re-entrant within its own session, so
#: ``settle`` on the loading connection could not tell them from dead ones by the lock alone)
_OPEN: set[int] = set()


def lock_name(load_id: int) -> str:
    return f"content.load:{int(load_id)}"


def open_record(*, workspace_id: int, model: str) -> int:
    """A new open load of ``model`` vectors into the workspace, held by this session."""
    with transaction.atomic():
        record = PendingLoad.objects.create(workspace_id=int(workspace_id), model=model)
        locks.advisory_session_lock(lock_name(record.pk))  # nobody knows the id before the commit
    _OPEN.add(record.pk)
    return record.pk


_RECORD = """
    INSERT INTO content_pendingloaddocument (load_id, document_id, content_hash)
    SELECT %s, t.document_id, t.content_hash FROM unnest(%s::bigint[], %s::text[]) AS t(document_id, content_hash)
    ON CONFLICT (load_id, document_id) DO UPDATE SET content_hash = EXCLUDED.content_hash
"""


def record_documents(load_id: int, documents: Sequence[tuple[int, str]]) -> None:
    """In an ingest batch's transaction: its ``(document_id, content_hash)`` documents whose
    chunks it wrote carrying the load's model."""
    if documents:
        with connection.cursor() as cursor:
            cursor.execute(_RECORD, [load_id, [d for d, _ in documents], [h for _, h in documents]])


_CURRENT = """
    SELECT c.id, c.document_id, d.content_hash FROM content_chunk c JOIN content_document d ON d.id = c.document_id
    WHERE c.id = ANY(%s::bigint[])
"""


def gone_chunks(load_id: int, chunk_ids: Sequence[int]) -> list[int]:
    """Those of the load's chunks that vanished since their vectors were made (a later batch or
    a delete replaced them) or whose document no longer has the recorded hash: one set-based
    read of the chunks (by primary key) beside the load's records."""
    if not chunk_ids:
        return []
    recorded = dict(PendingLoadDocument.objects.filter(load_id=load_id).values_list("document_id", "content_hash"))
    with connection.cursor() as cursor:
        cursor.execute(_CURRENT, [list(chunk_ids)])
        live = {
            chunk_id for chunk_id, doc_id, content_hash in cursor.fetchall() if recorded.get(doc_id) == content_hash
        }
    return [chunk_id for chunk_id in chunk_ids if chunk_id not in live]


_READY = """
    UPDATE content_document d SET status = %s, embedding_model = %s
    FROM unnest(%s::bigint[], %s::text[]) AS p(document_id, content_hash)
    WHERE d.id = p.document_id AND d.content_hash = p.content_hash
      AND NOT (d.status = %s AND d.embedding_model = %s)
      AND NOT EXISTS (SELECT 1 FROM content_chunk c WHERE c.document_id = d.id AND c.embedding_model <> %s)
"""


def complete(load_id: int, *, workers: int = 1) -> int:
    """After the load's vectors were swapped in: its documents ready (module doc), its records
    dropped, the content version moved, ``MARK_DOCUMENTS`` documents per transaction on
    ``workers`` connections; returns the documents marked ready."""
    try:
        record = PendingLoad.objects.filter(pk=load_id).values_list("workspace_id", "model").first()
        if record is None:
            return 0
        workspace_id, model = record
        recorded = list(
            PendingLoadDocument.objects.filter(load_id=load_id)
            .order_by("document_id")
            .values_list("document_id", "content_hash")
        )
        size = MARK_DOCUMENTS
        groups = [recorded[start : start + size] for start in range(0, len(recorded), size)] or [[]]

        def ready(group: list[tuple[int, str]]) -> int:
            ids = [document_id for document_id, _ in group]
            with transaction.atomic():  # the documents' rows locked in id order, the content version last
                stores.lock_workspace(workspace_id)
                _lock(ids)
                marked = _mark_ready(group, model)
                with connection.cursor() as cursor:
                    cursor.execute(_FORGET, [load_id, ids])
                caching.bump_content_version(workspace_id)  # the swap changed what searches find
            return marked

        with closing(parallel.ordered_map(ready, groups, workers=workers)) as outcomes:
            marked = sum(outcome.get() for outcome in outcomes)
        PendingLoad.objects.filter(pk=load_id).delete()
        return marked
    finally:
        _close(load_id)


def _mark_ready(group: list[tuple[int, str]], model: str) -> int:
    """Ready those of the ``(document_id, recorded hash)`` documents that kept their hash and
    whose chunks all carry ``model`` (the arrays drive the plan: primary-key lookups)."""
    if not group:
        return 0
    ready = Document.Status.READY
    with connection.cursor() as cursor:
        cursor.execute(_READY, [ready, model, [d for d, _ in group], [h for _, h in group], ready, model, model])
        return cursor.rowcount


_FORGET = "DELETE FROM content_pendingloaddocument WHERE load_id = %s AND document_id = ANY(%s::bigint[])"


def _lock(document_ids: list[int]) -> None:
    """Lock the documents' rows in id order (as every writer does; a deleted one has none)."""
    if document_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM content_document WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE", [document_ids]
            )


def release(load_id: int) -> int:
    """An aborted load: its documents' chunks carrying its model unmarked, its records dropped,
    an event for the worker to embed them; returns the documents. Its own session, or a worker
    holding the load's lock (``settle``), calls it."""
    try:
        with transaction.atomic():
            return _release(load_id)
    finally:
        _close(load_id)


def _release(load_id: int) -> int:
    record = PendingLoad.objects.filter(pk=load_id).values_list("workspace_id", "model").first()
    if record is None:
        return 0
    workspace_id, model = record
    stores.lock_workspace(workspace_id)
    ids = list(
        PendingLoadDocument.objects.filter(load_id=load_id)
        .order_by("document_id")
        .values_list("document_id", flat=True)
    )
    _lock(ids)
    if ids:
        Chunk.objects.filter(document_id__in=ids, embedding_model=model).update(embedding_model="", embedded_at=None)
        for start in range(0, len(ids), 1000):
            outbox_publish(
                event_type=EVENT_UNEMBEDDED,
                payload={"workspace_id": workspace_id, "document_ids": ids[start : start + 1000]},
                workspace_id=workspace_id,
            )
        caching.bump_content_version(workspace_id)
    PendingLoadDocument.objects.filter(load_id=load_id).delete()
    PendingLoad.objects.filter(pk=load_id).delete()
    return len(ids)


def settle(document_ids: Sequence[int]) -> None:
    """Before the worker embeds these documents: the open loads holding any of them that belong
    to a dead process are released; one that is still running raises ``LoadRunning`` (the
    outbox handler defers the event until the load has ended)."""
    held = sorted(
        set(PendingLoadDocument.objects.filter(document_id__in=list(document_ids)).values_list("load_id", flat=True))
    )
    for load_id in held:
        with transaction.atomic():
            if load_id in _OPEN or not locks.try_advisory_xact_lock(lock_name(load_id)):
                raise LoadRunning(
                    "these documents are in a bulk embedding load that is still running; retry when it has finished"
                )
            _release(load_id)


def _close(load_id: int) -> None:
    if load_id in _OPEN:
        _OPEN.discard(load_id)
        locks.advisory_session_unlock(lock_name(load_id))
