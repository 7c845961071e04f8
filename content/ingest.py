"""Ingesting a batch of documents: its rows and an outbox event in ONE short transaction; the
JSON bodies, graph nodes and vectors are projections of those rows.

The batch is validated item by item first (``content.items``). Outside any transaction, the
documents that look new or changed are chunked and, with ``embed=True``, embedded (a model call
never runs inside a transaction; the workspace's vector collections are created beforehand, each
in its own transaction). The valid items are then written in steps, each a function below: lock
and look up the existing rows, plan what is added / updated / unchanged (re-checking the content
hashes read before), write the ``Document`` and ``DocumentSource`` rows, drop a changed
document's old chunks, insert the chunks with their full-text vectors, write the precomputed
vectors, then record the outbox event, the audit entry and the new content version
(content/caching.py). Publishing the event runs the projections (content/projections.py) of
every store that shares the transaction right there, so with the Postgres adapters the batch is
still all-or-nothing in all four models; dedicated stores get their projections from the outbox
after the commit. With ``embed=True`` and a vector store that does not share the transaction,
the vectors are written right after the commit (content/embedding.py), and the worker embeds
whatever a crash left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from content import bm25, caching, chunk_writes, embedding, pending_loads, stores, vector_bulk, vector_slices
from content.chunking import ChunkSpan, chunk_text
from content.items import IngestItem, IngestReport, ItemResult, PreparedItem, validate_items
from content.models import Chunk, Document, DocumentSource
from content.workspace_model import current_embedding
from core.models import Workspace
from core.services import audit_record, outbox_publish
from core.storage import routing

logger = logging.getLogger(__name__)

EVENT_INGESTED = "content.documents.ingested"

_DB_BATCH = 2000
_UPDATED_FIELDS = [
    "title",
    "source",
    "content_type",
    "content_hash",
    "status",
    "embedding_model",
    "chunk_count",
    "char_count",
    "updated_at",
]


def document_ingest(
    *,
    workspace_id: int,
    items: Iterable[IngestItem],
    actor: Any = None,
    embed: bool = False,
    bulk: vector_bulk.EmbeddingLoad | None = None,
    ahead: Ahead | None = None,
) -> IngestReport:
    """Ingest one batch of documents in ONE transaction; idempotent by (workspace, external_id).

    Invalid items are reported as ``failed`` and write nothing; the others are added, updated
    (content hash changed: chunks and their vectors replaced) or left ``unchanged``. Written
    documents get their rows and chunks (with full-text vectors), and through their projections
    their body and graph node; with ``embed=True`` their chunk embeddings too, otherwise the
    ``content.documents.ingested`` outbox event has them embedded by the worker. With stores
    that share the transaction, a failure of any write raises and leaves nothing of the batch
    in any store; dedicated stores receive the batch from the outbox once it committed.

    A batch with many chunks to embed (or one given a ``bulk`` load, e.g. by ``manage.py ingest
    --embed`` for a whole file) writes its vectors through the bulk path after the commit
    (content/vector_bulk.py): searches see them all once the index is built, then the documents
    are marked ready. ``ahead``: the batch as ``content.ingest_ahead.prepare`` validated, chunked
    and embedded it, its vectors already in ``bulk`` under ids allocated for its rows.
    """
    workspace_id = int(workspace_id)
    results, valid = (ahead.results, ahead.valid) if ahead is not None else validate_items(items)
    if valid:
        bm25.check_writable()  # a clear error instead of PostgreSQL's about the bm25 access method
    if not Workspace.objects.filter(pk=workspace_id).exists():
        raise Workspace.DoesNotExist(f"workspace {workspace_id} does not exist")
    prepared = ahead.prepared if ahead is not None else prepare_batch(workspace_id, valid, embed=embed)
    load = vector_bulk.load_for_batch(bulk, workspace_id, prepared.collection, prepared.model, prepared.vectors)
    deferred: list[vector_slices.Slice] = []
    try:
        with transaction.atomic():
            if not Workspace.objects.filter(pk=workspace_id).exists():
                raise Workspace.DoesNotExist(f"workspace {workspace_id} does not exist")
            if valid:
                stores.lock_workspace(workspace_id)
                with stores.routes_locked():
                    deferred = _write_batch(
                        workspace_id,
                        valid,
                        prepared,
                        actor=actor,
                        staged=load is not None,
                        record=load.record if load is not None else None,
                    )
    except BaseException:
        if load is not None and load is not bulk:
            load.abort()
        raise
    vector_bulk.write_after_commit(deferred, load, own=load is not bulk)
    report = IngestReport(results)
    logger.info("content ingest into workspace %s (embed=%s): %s", workspace_id, embed, report.counts)
    return report


# ---------------------------------------------------------------- the batch write


@dataclass
class _Write:
    """A document the batch adds or updates: its item, result, row and chunk spans."""

    item: PreparedItem
    result: ItemResult
    document: Document
    spans: list[ChunkSpan]


@dataclass
class _Plan:
    new: list[_Write] = field(default_factory=list)
    changed: list[_Write] = field(default_factory=list)

    @property
    def written(self) -> list[_Write]:
        return self.new + self.changed


@dataclass
class _Prepared:
    """What was computed outside the transaction: chunk spans of the documents that looked new
    or changed (by external id, for that item's text), and with ``embed=True`` the workspace's
    model, its collection and each span's vector (by external id, one row per span)."""

    spans: dict[str, list[ChunkSpan]] = field(default_factory=dict)
    model: str = ""
    collection: str = ""
    vectors: dict[str, Any] = field(default_factory=dict)
    #: allocated ahead (content/ingest_ahead.py): the document's id and a chunk id per span
    document_ids: dict[str, int] = field(default_factory=dict)
    chunk_ids: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Ahead:
    """A batch validated and prepared ahead of its transaction (content/ingest_ahead.py)."""

    results: list[ItemResult]
    valid: list[tuple[PreparedItem, ItemResult]]
    prepared: _Prepared


def prepare_batch(
    workspace_id: int, valid: list[tuple[PreparedItem, ItemResult]], *, embed: bool, allocate: bool = False
) -> _Prepared:
    """Chunk (and embed) outside any transaction the documents whose stored hash differs (read
    without a lock: the transaction re-checks it); ``allocate``: their document (when new) and
    chunk ids too."""
    prepared = _Prepared()
    if not valid:
        return prepared
    stored = {
        external_id: (doc_id, content_hash)
        for external_id, doc_id, content_hash in Document.objects.filter(
            workspace_id=workspace_id, external_id__in=[p.external_id for p, _ in valid]
        ).values_list("external_id", "id", "content_hash")
    }
    candidates = [p for p, _ in valid if stored.get(p.external_id, (0, None))[1] != p.content_hash]
    prepared.spans = {p.external_id: chunk_text(p.text) for p in candidates}
    if embed and candidates:
        # the workspace's model (recorded by the transaction below if this is its first ingest)
        embedder, prepared.model = embedding.workspace_embedder(workspace_id, create=False)
        prepared.collection = embedding.ensure_collections(workspace_id, prepared.model)
        texts = [
            embedding.embedding_input(p.title, span.text) for p in candidates for span in prepared.spans[p.external_id]
        ]
        matrix = embedding.embed_texts(embedder, texts)
        row = 0
        for p in candidates:
            count = len(prepared.spans[p.external_id])
            prepared.vectors[p.external_id] = matrix[row : row + count]
            row += count
        if allocate:
            documents = iter(chunk_writes.allocate_ids(Document, sum(p.external_id not in stored for p in candidates)))
            chunks = iter(chunk_writes.allocate_ids(Chunk, row))
            for p in candidates:
                found = stored.get(p.external_id)
                prepared.document_ids[p.external_id] = found[0] if found is not None else next(documents)
                prepared.chunk_ids[p.external_id] = [next(chunks) for _ in prepared.spans[p.external_id]]
    return prepared


def _write_batch(
    workspace_id: int,
    valid: list[tuple[PreparedItem, ItemResult]],
    prepared: _Prepared,
    *,
    actor: Any,
    staged: bool = False,
    record: int | None = None,
) -> list[vector_slices.Slice]:
    """Write the batch's rows and event; returns the vector slices to write after the commit
    (all of them when ``staged``: they go to a bulk load; with its ``record``, the chunks that
    have vectors are written carrying the model and their documents recorded in the load:
    content/pending_loads.py)."""
    existing = _lock_existing(workspace_id, [p.external_id for p, _ in valid])
    # The workspace's embedding model is fixed by its first ingest (this process's provider), so
    # a worker started with other settings still embeds with it.
    _, recorded_model = current_embedding(workspace_id, create=True)
    embed = bool(prepared.model)
    inline = False
    if embed:
        # Vectors go in this transaction only if every vector store that receives writes shares
        # it and the workspace still has the model they were made with (a re-embed may switch it).
        route = routing.write_route(stores.APP, "vectors")
        targets = stores.vector_targets(route)
        same_model = recorded_model == prepared.model
        inline = same_model and not staged and all(store.features.joins_db_transaction for _, store in targets)
        embed = same_model
    now = timezone.now()
    plan = _plan(workspace_id, valid, existing, prepared, ready=inline, now=now)
    if not plan.written:
        return []
    _write_rows(plan)
    removed = chunk_writes.drop_old_chunks([w.document.pk for w in plan.changed])
    premark = embed and record is not None
    # ids allocated ahead (their vectors are staged already) hold while the document is the one
    # prepared: same id, the prepared spans
    ahead = {
        w.document.pk: prepared.chunk_ids[w.item.external_id]
        for w in plan.written
        if prepared.document_ids.get(w.item.external_id) == w.document.pk
        and w.spans is prepared.spans.get(w.item.external_id)
    }
    carried = {
        w.document.pk
        for w in plan.written
        if (inline or premark)
        and w.item.external_id in prepared.vectors
        and (not prepared.chunk_ids or w.document.pk in ahead)
    }
    chunk_rows = chunk_writes.insert_chunks(
        workspace_id,
        [(w.document.pk, w.item.title, ordinal, span) for w in plan.written for ordinal, span in enumerate(w.spans)],
        model=prepared.model,
        carried=carried,
        embedded_at=now,
        ids=ahead,
    )
    if premark:
        pending_loads.record_documents(
            record, [(w.document.pk, w.item.content_hash) for w in plan.written if w.document.pk in carried]
        )
    slices = (
        _vector_slices(workspace_id, prepared, plan.written, chunk_rows) if embed and not prepared.chunk_ids else []
    )
    if inline:
        for piece in slices:
            vector_slices.upsert_slice(piece, targets)
        slices = []
    # else the slices are written after the commit, and the outbox event recorded below has the
    # worker embed whatever they did not (or, without embed, all of it)
    _record(workspace_id, plan, removed, actor=actor, embedded=inline)
    return slices


def _lock_existing(workspace_id: int, external_ids: list[str]) -> dict[str, tuple[int, str]]:
    """external_id -> (id, content_hash) of the batch's existing documents, locked in id order."""
    return {
        external_id: (doc_id, content_hash)
        for doc_id, external_id, content_hash in Document.objects.select_for_update()
        .filter(workspace_id=workspace_id, external_id__in=external_ids)
        .order_by("id")
        .values_list("id", "external_id", "content_hash")
    }


def _plan(
    workspace_id: int,
    valid: list[tuple[PreparedItem, ItemResult]],
    existing: dict[str, tuple[int, str]],
    prepared: _Prepared,
    *,
    ready: bool,
    now: datetime,
) -> _Plan:
    """Which documents are added and which updated (their results say so); an unchanged one
    only gets its id in its result. ``ready``: written with their vectors (those with any)."""
    plan = _Plan()
    for p, result in valid:
        found = existing.get(p.external_id)
        if found is not None and found[1] == p.content_hash:
            result.document_id = found[0]  # outcome stays "unchanged"
            continue
        spans = prepared.spans.get(p.external_id)
        if spans is None:  # it changed after _prepare looked (a concurrent ingest): chunk it now
            spans = chunk_text(p.text)
        embedded = ready and p.external_id in prepared.vectors
        document = Document(
            workspace_id=workspace_id,
            external_id=p.external_id,
            title=p.title,
            source=p.source,
            content_type=p.content_type,
            content_hash=p.content_hash,
            status=Document.Status.READY if embedded else Document.Status.PENDING,
            embedding_model=prepared.model if embedded else "",
            chunk_count=len(spans),
            char_count=len(p.text),
            updated_at=now,
        )
        if found is None:
            result.outcome = "added"
            if p.external_id in prepared.document_ids:  # allocated ahead (nobody else has it)
                document.pk = prepared.document_ids[p.external_id]
            plan.new.append(_Write(p, result, document, spans))
        else:
            result.outcome = "updated"
            document.pk = found[0]
            plan.changed.append(_Write(p, result, document, spans))
    return plan


def _write_rows(plan: _Plan) -> None:
    """The relational rows (document, its text and metadata); every written result gets its id."""
    Document.objects.bulk_create([w.document for w in plan.new], batch_size=_DB_BATCH)
    Document.objects.bulk_update([w.document for w in plan.changed], _UPDATED_FIELDS, batch_size=500)
    for w in plan.written:
        w.result.document_id = w.document.pk
    DocumentSource.objects.bulk_create(
        [DocumentSource(document_id=w.document.pk, text=w.item.text, metadata=w.item.metadata) for w in plan.written],
        batch_size=_DB_BATCH,
        update_conflicts=True,
        unique_fields=["document"],
        update_fields=["text", "metadata"],
    )


def _vector_slices(
    workspace_id: int, prepared: _Prepared, written: list[_Write], chunk_rows: list[tuple[int, int, str]]
) -> list[vector_slices.Slice]:
    """The precomputed vectors of the written chunks, in slices, keyed by the new chunk ids."""
    by_document: dict[int, list[tuple[int, int, str]]] = {}
    for row in chunk_rows:
        by_document.setdefault(row[1], []).append(row)

    def documents() -> Iterator[tuple[int, PreparedItem, list[tuple[int, int, str]], Any]]:
        for w in written:
            matrix = prepared.vectors.get(w.item.external_id)
            if matrix is not None:
                document_rows = by_document.get(w.document.pk, [])  # ordered by chunk id = by ordinal
                yield w.document.pk, w.item, document_rows, matrix[: len(document_rows)]

    return vector_slices.documents_slices(workspace_id, prepared.model, prepared.collection, documents())


def _record(workspace_id: int, plan: _Plan, removed: list[int], *, actor: Any, embedded: bool) -> None:
    """The outbox event (its projections run now for the stores in this transaction), the audit
    entry and the new content version of a written batch."""
    written_ids = [w.document.pk for w in plan.written]
    outbox_publish(
        event_type=EVENT_INGESTED,
        payload={
            "workspace_id": workspace_id,
            "document_ids": written_ids,
            "embedded": embedded,
            "removed_chunk_ids": removed,
        },
        workspace_id=workspace_id,
    )
    audit_record(
        actor=actor,
        action="content.documents.ingest",
        object_type="content.Document",
        object_id=f"{len(written_ids)} documents",
        workspace_id=workspace_id,
        changes={
            "added": len(plan.new),
            "updated": len(plan.changed),
            "embedded": embedded,
            "document_ids": written_ids[:1000],
        },
    )
    caching.bump_content_version(workspace_id)  # last: cached searches and pages see the batch
