"""Ingesting a batch of documents into the four data models, in ONE transaction.

The batch is validated item by item first (``content.items``); the valid items are then
written in steps, each a function below: lock and look up the existing rows, plan what is
added / updated / unchanged, write the ``Document`` rows, replace a changed document's old
chunks and vectors, insert the chunks with their full-text vectors, put the bodies in the
document store, embed (``embed=True``), put the graph nodes, then record the outbox event,
the audit entry and the new content version (content/caching.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql as psycopg_sql

from content import bm25, caching, embedding, stores
from content.chunking import ChunkSpan, chunk_text
from content.embeddings import Embedder
from content.items import IngestItem, IngestReport, ItemResult, PreparedItem, prepare_item
from content.models import Chunk, Document
from content.workspace_model import current_embedding, workspace_embedder
from core.models import Workspace
from core.services import audit_record, outbox_publish
from core.storage.ports import InvalidInput, Node

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
    *, workspace_id: int, items: Iterable[IngestItem], actor: Any = None, embed: bool = False
) -> IngestReport:
    """Ingest one batch of documents in ONE transaction; idempotent by (workspace, external_id).

    Invalid items are reported as ``failed`` and write nothing; the others are added, updated
    (content hash changed: chunks and their vectors replaced) or left ``unchanged``. Written
    documents get their row, body, chunks (with full-text vectors) and graph node; with
    ``embed=True`` their chunk embeddings too, otherwise the ``content.documents.ingested``
    outbox event has them embedded by the worker. A failure of any store write raises and
    leaves nothing of the batch in any store.
    """
    workspace_id = int(workspace_id)
    results, valid = _validate(items)
    if valid:
        bm25.check_writable()  # a clear error instead of PostgreSQL's about the bm25 access method
    with transaction.atomic():
        if not Workspace.objects.filter(pk=workspace_id).exists():
            raise Workspace.DoesNotExist(f"workspace {workspace_id} does not exist")
        if valid:
            stores.lock_workspace(workspace_id)
            _write_batch(workspace_id, valid, actor=actor, embed=embed)
    report = IngestReport(results)
    logger.info("content ingest into workspace %s (embed=%s): %s", workspace_id, embed, report.counts)
    return report


def _validate(items: Iterable[IngestItem]) -> tuple[list[ItemResult], list[tuple[PreparedItem, ItemResult]]]:
    """Every item's result (invalid ones and repeated external ids already ``failed``) and the
    valid items paired with their (for now ``unchanged``) results, in input order."""
    results: list[ItemResult] = []
    valid: list[tuple[PreparedItem, ItemResult]] = []
    first_seen: dict[str, ItemResult] = {}
    for position, item in enumerate(items):
        try:
            candidate = prepare_item(item, position)
        except (InvalidInput, ValueError, TypeError, RecursionError) as exc:  # any bad value fails its item only
            results.append(
                ItemResult(
                    _shown(item.external_id),
                    "failed",
                    error=_shown(str(exc)),
                    source=_shown(item.source),
                    line=item.line,
                )
            )
            continue
        result = ItemResult(candidate.external_id, "unchanged", source=candidate.source, line=item.line)
        first = first_seen.get(candidate.external_id)
        if first is not None:
            result.outcome, result.error = "failed", f"duplicate external_id {candidate.external_id!r} in this batch"
            result.error += f" (first at {first.location})"
        else:
            first_seen[candidate.external_id] = result
            valid.append((candidate, result))
        results.append(result)
    return results, valid


def _shown(value: Any) -> str:
    """A refused item's value as text any page, log or terminal can show (a lone surrogate in
    an external id broke the upload result page): lone surrogates become ``\\udXXX`` escapes."""
    if not isinstance(value, str):
        return "" if value is None else repr(value)
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


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
class _EmbedTarget:
    model: str
    embedder: Embedder
    collection: str


def _write_batch(workspace_id: int, valid: list[tuple[PreparedItem, ItemResult]], *, actor: Any, embed: bool) -> None:
    existing = _lock_existing(workspace_id, [p.external_id for p, _ in valid])
    # With embed=True every row is written in its final state (embedded, ready), once.
    # The workspace's embedding model is fixed by its first ingest (this process's provider), so
    # a worker started with other settings still embeds with it.
    current_embedding(workspace_id, create=True)
    target = _embed_target(workspace_id) if embed else None
    now = timezone.now()
    model = target.model if target else ""
    plan = _plan(workspace_id, valid, existing, model=model, ready=target is not None, now=now)
    if not plan.written:
        return
    _write_rows(plan)
    _drop_old_chunks(workspace_id, [w.document.pk for w in plan.changed])
    chunk_rows = _insert_chunks(
        workspace_id,
        [(w.document.pk, w.item.title, ordinal, span) for w in plan.written for ordinal, span in enumerate(w.spans)],
        model=model,
        embedded_at=now if embed else None,
    )
    _put_bodies(workspace_id, plan.written)
    if target is not None:
        _embed_chunks(workspace_id, target, plan.written, chunk_rows)
    # else the outbox event recorded below has the worker embed them
    _put_graph_nodes(workspace_id, plan.written)
    _record(workspace_id, plan, actor=actor, embed=embed)


def _lock_existing(workspace_id: int, external_ids: list[str]) -> dict[str, tuple[int, str]]:
    """external_id -> (id, content_hash) of the batch's existing documents, locked in id order."""
    return {
        external_id: (doc_id, content_hash)
        for doc_id, external_id, content_hash in Document.objects.select_for_update()
        .filter(workspace_id=workspace_id, external_id__in=external_ids)
        .order_by("id")
        .values_list("id", "external_id", "content_hash")
    }


def _embed_target(workspace_id: int) -> _EmbedTarget:
    embedder, model = workspace_embedder(workspace_id)
    return _EmbedTarget(model, embedder, embedding.ensure_collection(workspace_id, model))


def _plan(
    workspace_id: int,
    valid: list[tuple[PreparedItem, ItemResult]],
    existing: dict[str, tuple[int, str]],
    *,
    model: str,
    ready: bool,
    now: datetime,
) -> _Plan:
    """Which documents are added and which updated (their results say so); an unchanged one
    only gets its id in its result."""
    plan = _Plan()
    for p, result in valid:
        found = existing.get(p.external_id)
        if found is not None and found[1] == p.content_hash:
            result.document_id = found[0]  # outcome stays "unchanged"
            continue
        spans = chunk_text(p.text)
        document = Document(
            workspace_id=workspace_id,
            external_id=p.external_id,
            title=p.title,
            source=p.source,
            content_type=p.content_type,
            content_hash=p.content_hash,
            status=Document.Status.READY if ready else Document.Status.PENDING,
            embedding_model=model,
            chunk_count=len(spans),
            char_count=len(p.text),
            updated_at=now,
        )
        if found is None:
            result.outcome = "added"
            plan.new.append(_Write(p, result, document, spans))
        else:
            result.outcome = "updated"
            document.pk = found[0]
            plan.changed.append(_Write(p, result, document, spans))
    return plan


def _write_rows(plan: _Plan) -> None:
    """The relational rows; every written result gets its document id."""
    Document.objects.bulk_create([w.document for w in plan.new], batch_size=_DB_BATCH)
    Document.objects.bulk_update([w.document for w in plan.changed], _UPDATED_FIELDS, batch_size=500)
    for w in plan.written:
        w.result.document_id = w.document.pk


def _drop_old_chunks(workspace_id: int, changed_ids: list[int]) -> None:
    """A changed document's old chunks and their vectors (in every collection of the workspace)."""
    if not changed_ids:
        return
    old_keys = [str(i) for i in Chunk.objects.filter(document_id__in=changed_ids).values_list("id", flat=True)]
    if old_keys:
        for name in embedding.workspace_collections(workspace_id):
            stores.vectors().delete(name, old_keys)
        Chunk.objects.filter(document_id__in=changed_ids).delete()


_INSERT_CHUNKS = """
    INSERT INTO {table} (workspace_id, document_id, ordinal, text, start_offset, end_offset, token_count,
                         embedding_model, embedded_at, search_vector)
    SELECT %s, t.document_id, t.ordinal, t.text, t.start_offset, t.end_offset, t.token_count, %s, %s,
           setweight(to_tsvector('english'::regconfig, t.title), 'A')
           || setweight(to_tsvector('english'::regconfig, t.text), 'B')
    FROM unnest(%s::bigint[], %s::integer[], %s::text[], %s::integer[], %s::integer[], %s::integer[], %s::text[])
         AS t(document_id, ordinal, text, start_offset, end_offset, token_count, title)
    RETURNING id, document_id, ordinal
"""


def _insert_chunks(
    workspace_id: int,
    chunks: Sequence[tuple[int, str, int, ChunkSpan]],
    *,
    model: str,
    embedded_at: datetime | None,
) -> list[tuple[int, int, str]]:
    """Insert ``(document_id, title, ordinal, span)`` chunks with their full-text vectors (title
    weight A, text B) in one set-based statement; returns ``(chunk_id, document_id, text)``.

    (The ORM's bulk_create would compile a SearchVector expression per row, which costs more
    than the whole insert.)"""
    statement = psycopg_sql.SQL(_INSERT_CHUNKS).format(table=psycopg_sql.Identifier(Chunk._meta.db_table))
    texts = {(doc_id, ordinal): span.text for doc_id, _, ordinal, span in chunks}
    rows: list[tuple[int, int, str]] = []
    with connection.cursor() as cursor:
        for batch in embedding.batches(chunks, _DB_BATCH):
            cursor.execute(
                statement.as_string(connection.connection),
                [
                    workspace_id,
                    model,
                    embedded_at,
                    [doc_id for doc_id, _, _, _ in batch],
                    [ordinal for _, _, ordinal, _ in batch],
                    [span.text for _, _, _, span in batch],
                    [span.start for _, _, _, span in batch],
                    [span.end for _, _, _, span in batch],
                    [span.token_count for _, _, _, span in batch],
                    [title for _, title, _, _ in batch],
                ],
            )
            rows.extend((chunk_id, doc_id, texts[doc_id, ordinal]) for chunk_id, doc_id, ordinal in cursor.fetchall())
    rows.sort()
    return rows


def _put_bodies(workspace_id: int, written: list[_Write]) -> None:
    documents = stores.documents()
    documents.create_collection(stores.DOCUMENTS_COLLECTION)
    documents.put_many(
        stores.DOCUMENTS_COLLECTION,
        [
            (
                str(w.document.pk),
                {"workspace_id": workspace_id, "title": w.item.title, "text": w.item.text, "metadata": w.item.metadata},
            )
            for w in written
        ],
    )


def _embed_chunks(
    workspace_id: int, target: _EmbedTarget, written: list[_Write], chunk_rows: list[tuple[int, int, str]]
) -> None:
    """The bulk-load path: embed the new chunks now, in provider-sized batches."""
    titles = {w.document.pk: w.item.title for w in written}
    metadata = {w.document.pk: w.item.metadata for w in written}
    for batch in embedding.batches(chunk_rows, settings.STRATA_EMBEDDING_BATCH_SIZE):
        embedding.embed_rows(
            workspace_id=workspace_id,
            rows=batch,
            embedder=target.embedder,
            collection=target.collection,
            titles=titles,
            metadata=metadata,
        )


def _put_graph_nodes(workspace_id: int, written: list[_Write]) -> None:
    graph = stores.graph()
    graph.define_node_label(stores.GRAPH_LABEL)
    graph.bulk_load(
        nodes=[
            Node(
                stores.GRAPH_LABEL,
                str(w.document.pk),
                {"workspace_id": workspace_id, "title": w.item.title, "external_id": w.item.external_id},
            )
            for w in written
        ]
    )


def _record(workspace_id: int, plan: _Plan, *, actor: Any, embed: bool) -> None:
    """The outbox event, the audit entry and the new content version of a written batch."""
    written_ids = [w.document.pk for w in plan.written]
    outbox_publish(
        event_type=EVENT_INGESTED,
        payload={"workspace_id": workspace_id, "document_ids": written_ids, "embedded": embed},
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
            "embedded": embed,
            "document_ids": written_ids[:1000],
        },
    )
    caching.bump_content_version(workspace_id)  # last: cached searches and pages see the batch
