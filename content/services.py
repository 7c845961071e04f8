"""Writes of the content domain: ingest, embed, re-embed and delete documents.

A document lives in all four data models of the one PostgreSQL: its ``Document`` row and
``Chunk`` rows (relational + full-text), its body ``{"title", "text", "metadata"}`` in the
DocumentStore, its chunks' embeddings in the VectorStore (one collection per workspace and
embedding model) and a node in the GraphStore. Each service writes all of them in ONE
transaction, so a batch is either entirely in every store or in none of them.

Concurrency: ingest, embed and delete take a shared per-workspace advisory lock and
``workspace_reembed`` takes it exclusively for its final switch, so the switch sees a
workspace nobody is writing to; document rows are locked in id order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql as psycopg_sql

from content import stores
from content.chunking import ChunkSpan, chunk_text
from content.embeddings import DIMENSION, Embedder, EmbeddingError, get_embedder, get_embedder_for_model
from content.models import Chunk, Document, WorkspaceEmbedding
from core.locks import advisory_xact_lock
from core.models import Workspace
from core.services import audit_record, outbox_publish
from core.storage.ports import (
    CollectionConflict,
    InvalidInput,
    MalformedDocument,
    ModelMismatch,
    Node,
    NodeRef,
    PayloadTooLarge,
    UnknownCollection,
    VectorItem,
)

logger = logging.getLogger(__name__)

Outcome = Literal["added", "updated", "unchanged", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("added", "updated", "unchanged", "failed")

EVENT_INGESTED = "content.documents.ingested"
EVENT_DELETED = "content.document.deleted"

#: Bytes of a vector's metadata reserved for the envelope around the document's metadata.
_VECTOR_METADATA_ENVELOPE = 512
_MAX_EXTERNAL_ID = Document._meta.get_field("external_id").max_length
_MAX_TITLE = Document._meta.get_field("title").max_length
_MAX_SOURCE = Document._meta.get_field("source").max_length
_DB_BATCH = 2000


# ---------------------------------------------------------------- public data types


@dataclass
class IngestItem:
    external_id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    content_type: str = Document.ContentType.TEXT
    source: str = ""  # where it came from (file path), for messages
    line: int | None = None  # line in ``source`` (JSONL/JSON items)


@dataclass
class ItemResult:
    external_id: str
    outcome: Outcome
    document_id: int | None = None
    error: str = ""
    source: str = ""
    line: int | None = None

    @property
    def location(self) -> str:
        """``source:line`` (or whichever of them is known) for messages."""
        where = self.source or self.external_id
        return f"{where}:{self.line}" if self.line is not None else where


@dataclass
class IngestReport:
    results: list[ItemResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    @property
    def failed(self) -> list[ItemResult]:
        return [result for result in self.results if result.outcome == "failed"]

    @property
    def document_ids(self) -> list[int]:
        """Ids of the documents this ingest added or updated."""
        return [r.document_id for r in self.results if r.outcome in ("added", "updated") and r.document_id]


# ---------------------------------------------------------------- validation


@dataclass
class _Prepared:
    position: int
    item: IngestItem
    external_id: str
    title: str
    text: str
    metadata: dict[str, Any]
    content_type: str
    source: str
    content_hash: str


def _normalize_text(value: str) -> str:
    return unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _json(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _check_string(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise MalformedDocument(f"{name} contains NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedDocument(f"{name} is not valid Unicode (lone surrogate at {exc.start})") from exc
    return value


def _prepare(item: IngestItem, position: int) -> _Prepared:
    """Validate and normalise one item; raises InvalidInput with a message for the user."""
    max_document = settings.STRATA_MAX_DOCUMENT_BYTES
    max_metadata = settings.STRATA_MAX_METADATA_BYTES - _VECTOR_METADATA_ENVELOPE

    external_id = _check_string(item.external_id, "external_id").strip()
    if not external_id:
        raise InvalidInput("external_id is empty")
    if len(external_id) > _MAX_EXTERNAL_ID:
        raise InvalidInput(f"external_id is longer than {_MAX_EXTERNAL_ID} characters")

    text = _check_string(item.text, "text")
    if not text.strip():
        raise InvalidInput("text is missing or empty")
    text_bytes = len(text.encode("utf-8"))
    if text_bytes > max_document:
        raise PayloadTooLarge(f"text is {text_bytes} bytes; the limit is {max_document} (STRATA_MAX_DOCUMENT_BYTES)")
    text = _normalize_text(text)

    title = " ".join(_normalize_text(_check_string(item.title, "title")).split())
    if len(title) > _MAX_TITLE:
        raise InvalidInput(f"title is longer than {_MAX_TITLE} characters")
    title = title or external_id[:_MAX_TITLE]

    source = _check_string(item.source, "source")
    if len(source) > _MAX_SOURCE:
        raise InvalidInput(f"source is longer than {_MAX_SOURCE} characters")

    content_type = item.content_type or Document.ContentType.TEXT
    if content_type not in Document.ContentType.values:
        raise InvalidInput(
            f"unsupported content type {content_type!r}; expected one of {', '.join(Document.ContentType.values)}"
        )

    metadata = item.metadata if item.metadata is not None else {}
    if not isinstance(metadata, Mapping):
        raise MalformedDocument(f"metadata must be a JSON object, not {type(metadata).__name__}")
    if any(not isinstance(key, str) for key in metadata):
        raise MalformedDocument("metadata keys must be strings")
    try:
        metadata_json = json.dumps(metadata, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise MalformedDocument(f"metadata is not valid JSON: {exc}") from exc
    if "\\u0000" in metadata_json or "\x00" in metadata_json:
        raise MalformedDocument("metadata contains NUL characters")
    metadata_bytes = len(metadata_json.encode("utf-8"))
    if metadata_bytes > max_metadata:
        raise PayloadTooLarge(
            f"metadata is {metadata_bytes} bytes; the limit is {max_metadata} (STRATA_MAX_METADATA_BYTES minus "
            f"{_VECTOR_METADATA_ENVELOPE} for the vector envelope)"
        )
    # the body's size as the document store measures it (compact JSON)
    body_json = f'{{"title":{_json(title)},"text":{_json(text)},"metadata":{metadata_json}}}'
    body_bytes = len(body_json.encode("utf-8"))
    if body_bytes > max_document:
        raise PayloadTooLarge(
            f"document is {body_bytes} bytes as JSON; the limit is {max_document} (STRATA_MAX_DOCUMENT_BYTES)"
        )

    digest = hashlib.sha256("\x1f".join((title, text, metadata_json)).encode("utf-8")).hexdigest()
    return _Prepared(
        position=position,
        item=item,
        external_id=external_id,
        title=title,
        text=text,
        metadata=json.loads(metadata_json),
        content_type=content_type,
        source=source,
        content_hash=digest,
    )


# ---------------------------------------------------------------- helpers


def _lock_workspace(workspace_id: int, *, exclusive: bool = False) -> None:
    """Transaction-scoped advisory lock of a workspace's content (shared for writers,
    exclusive for the embedding-model switch)."""
    advisory_xact_lock(f"content.workspace:{int(workspace_id)}", shared=not exclusive)


def _workspace_collections(workspace_id: int) -> list[str]:
    """Every vector collection of the workspace (the current model's, and a re-embed's target)."""
    prefix = stores.chunk_collection(workspace_id=workspace_id, model="x")[:-1]
    return sorted(c.name for c in stores.vectors().list_collections() if c.name.startswith(prefix))


def _invalidate_caches(workspace_id: int, document_ids: Sequence[int]) -> None:
    """After commit: drop the workspace's cached reads and those of the given documents."""

    def invalidate() -> None:
        cache = stores.cache()
        cache.delete_by_tag(stores.workspace_cache_tag(workspace_id))
        for document_id in document_ids:
            cache.delete_by_tag(stores.document_cache_tag(document_id))

    transaction.on_commit(invalidate, robust=True)


def _batches(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _embedding_input(title: str, text: str) -> str:
    return f"{title}\n\n{text}" if title else text


def _ensure_collection(workspace_id: int, model: str) -> str:
    """The workspace's collection for ``model``, created on demand; refuses a collection of
    that name holding another model's vectors."""
    name = stores.chunk_collection(workspace_id=workspace_id, model=model)
    vectors = stores.vectors()
    try:
        existing = vectors.get_collection(name)
    except UnknownCollection:
        return vectors.create_collection(name, dimension=DIMENSION, model=model).name
    if existing.model != model:
        raise ModelMismatch(f"vector collection {name!r} holds {existing.model!r} vectors, not {model!r}")
    if existing.dimension != DIMENSION:
        raise CollectionConflict(f"vector collection {name!r} has dimension {existing.dimension}, not {DIMENSION}")
    return name


def _current_model(workspace_id: int, *, create: bool) -> str:
    model = WorkspaceEmbedding.objects.filter(workspace_id=workspace_id).values_list("model", flat=True).first()
    if model is None:
        model = get_embedder().model
        if create:
            WorkspaceEmbedding.objects.bulk_create(
                [WorkspaceEmbedding(workspace_id=workspace_id, model=model)], ignore_conflicts=True
            )
            model = WorkspaceEmbedding.objects.values_list("model", flat=True).get(workspace_id=workspace_id)
    return model


def _embed_rows(
    *,
    workspace_id: int,
    rows: Sequence[tuple[int, int, str]],
    embedder: Embedder,
    collection: str,
    titles: Mapping[int, str],
    metadata: Mapping[int, dict[str, Any]],
) -> None:
    """Embed ``(chunk_id, document_id, text)`` rows and upsert them into ``collection``."""
    matrix = embedder.embed([_embedding_input(titles.get(doc_id, ""), text) for _, doc_id, text in rows])
    if matrix.shape != (len(rows), DIMENSION):
        raise EmbeddingError(f"{embedder.model} returned shape {matrix.shape}, expected ({len(rows)}, {DIMENSION})")
    items = [
        VectorItem(
            key=str(chunk_id),
            vector=vector,
            metadata={
                "workspace_id": workspace_id,
                "document_id": doc_id,
                "chunk_id": chunk_id,
                "doc": metadata.get(doc_id, {}),
            },
        )
        for (chunk_id, doc_id, _), vector in zip(rows, matrix, strict=True)
    ]
    stores.vectors().upsert(collection, items, model=embedder.model)


def _document_metadata(document_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    bodies = stores.documents().get_many(stores.DOCUMENTS_COLLECTION, [str(i) for i in document_ids])
    return {int(key): (body.get("metadata") or {}) for key, body in bodies.items()}


def _embed_documents(workspace_id: int, documents: Mapping[int, str]) -> int:
    """Embed the not-yet-embedded chunks of ``documents`` ({id: title}) of one workspace with
    its model (caller holds the workspace lock, inside a transaction). Returns chunks embedded."""
    model = _current_model(workspace_id, create=True)
    chunk_rows = list(
        Chunk.objects.filter(document_id__in=list(documents))
        .exclude(embedding_model=model)
        .order_by("id")
        .values_list("id", "document_id", "text")
    )
    if chunk_rows:
        embedder = get_embedder_for_model(model)
        collection = _ensure_collection(workspace_id, model)
        metadata = _document_metadata({doc_id for _, doc_id, _ in chunk_rows})
        now = timezone.now()
        for batch in _batches(chunk_rows, settings.STRATA_EMBEDDING_BATCH_SIZE):
            _embed_rows(
                workspace_id=workspace_id,
                rows=batch,
                embedder=embedder,
                collection=collection,
                titles=documents,
                metadata=metadata,
            )
            Chunk.objects.filter(id__in=[row[0] for row in batch]).update(embedding_model=model, embedded_at=now)
    Document.objects.filter(id__in=list(documents)).exclude(status=Document.Status.READY, embedding_model=model).update(
        status=Document.Status.READY, embedding_model=model
    )
    return len(chunk_rows)


# ---------------------------------------------------------------- ingest


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
    results: list[ItemResult] = []
    prepared: list[_Prepared] = []
    first_seen: dict[str, ItemResult] = {}
    for position, item in enumerate(items):
        try:
            candidate = _prepare(item, position)
        except InvalidInput as exc:
            external_id = item.external_id if isinstance(item.external_id, str) else repr(item.external_id)
            results.append(ItemResult(external_id, "failed", error=str(exc), source=item.source, line=item.line))
            continue
        result = ItemResult(candidate.external_id, "unchanged", source=candidate.source, line=item.line)
        first = first_seen.get(candidate.external_id)
        if first is not None:
            result.outcome, result.error = "failed", f"duplicate external_id {candidate.external_id!r} in this batch"
            result.error += f" (first at {first.location})"
        else:
            first_seen[candidate.external_id] = result
            prepared.append(candidate)
        results.append(result)
    prepared_results = [r for r in results if r.outcome != "failed"]  # same order as `prepared`

    with transaction.atomic():
        if not Workspace.objects.filter(pk=workspace_id).exists():
            raise Workspace.DoesNotExist(f"workspace {workspace_id} does not exist")
        if prepared:
            _lock_workspace(workspace_id)
            _write_batch(workspace_id, prepared, prepared_results, actor=actor, embed=embed)
    report = IngestReport(results)
    logger.info("content ingest into workspace %s (embed=%s): %s", workspace_id, embed, report.counts)
    return report


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
        for batch in _batches(chunks, _DB_BATCH):
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


def _write_batch(
    workspace_id: int, prepared: list[_Prepared], results: list[ItemResult], *, actor: Any, embed: bool
) -> None:
    existing = {
        external_id: (doc_id, content_hash)
        for doc_id, external_id, content_hash in Document.objects.select_for_update()
        .filter(workspace_id=workspace_id, external_id__in=[p.external_id for p in prepared])
        .order_by("id")
        .values_list("id", "external_id", "content_hash")
    }
    # With embed=True every row is written in its final state (embedded, ready), once.
    model, embedder, collection = "", None, ""
    if embed:
        model = _current_model(workspace_id, create=True)
        embedder = get_embedder_for_model(model)
        collection = _ensure_collection(workspace_id, model)
    now = timezone.now()
    new: list[tuple[_Prepared, ItemResult, Document]] = []
    changed: list[tuple[_Prepared, ItemResult, Document]] = []
    chunks_of: dict[int, list[ChunkSpan]] = {}  # position -> spans
    for p, result in zip(prepared, results, strict=True):
        found = existing.get(p.external_id)
        if found is not None and found[1] == p.content_hash:
            result.document_id = found[0]  # outcome stays "unchanged"
            continue
        spans = chunk_text(p.text)
        chunks_of[p.position] = spans
        document = Document(
            workspace_id=workspace_id,
            external_id=p.external_id,
            title=p.title,
            source=p.source,
            content_type=p.content_type,
            content_hash=p.content_hash,
            status=Document.Status.READY if embed else Document.Status.PENDING,
            embedding_model=model,
            chunk_count=len(spans),
            char_count=len(p.text),
            updated_at=now,
        )
        if found is None:
            result.outcome = "added"
            new.append((p, result, document))
        else:
            result.outcome = "updated"
            document.pk = found[0]
            changed.append((p, result, document))
    if not new and not changed:
        return

    # 1. relational rows
    Document.objects.bulk_create([d for _, _, d in new], batch_size=_DB_BATCH)
    Document.objects.bulk_update(
        [d for _, _, d in changed],
        ["title", "source", "content_type", "content_hash", "status", "embedding_model", "chunk_count", "char_count"]
        + ["updated_at"],
        batch_size=500,
    )
    written = new + changed
    for _, result, document in written:
        result.document_id = document.pk
    changed_ids = [d.pk for _, _, d in changed]
    written_ids = [d.pk for _, _, d in written]

    # 2. a changed document's old chunks and their vectors (in every collection of the workspace)
    if changed_ids:
        old_keys = [str(i) for i in Chunk.objects.filter(document_id__in=changed_ids).values_list("id", flat=True)]
        if old_keys:
            for name in _workspace_collections(workspace_id):
                stores.vectors().delete(name, old_keys)
            Chunk.objects.filter(document_id__in=changed_ids).delete()

    # 3. chunks, with their full-text vectors computed by the INSERT
    chunk_rows = _insert_chunks(
        workspace_id,
        [(d.pk, p.title, ordinal, span) for p, _, d in written for ordinal, span in enumerate(chunks_of[p.position])],
        model=model,
        embedded_at=now if embed else None,
    )

    # 4. bodies in the document store
    documents = stores.documents()
    documents.create_collection(stores.DOCUMENTS_COLLECTION)
    documents.put_many(
        stores.DOCUMENTS_COLLECTION,
        [
            (str(d.pk), {"workspace_id": workspace_id, "title": p.title, "text": p.text, "metadata": p.metadata})
            for p, _, d in written
        ],
    )

    # 5. embeddings (bulk-load path), else the outbox event below has the worker do it
    if embedder is not None:
        titles = {d.pk: p.title for p, _, d in written}
        metadata = {d.pk: p.metadata for p, _, d in written}
        for batch in _batches(chunk_rows, settings.STRATA_EMBEDDING_BATCH_SIZE):
            _embed_rows(
                workspace_id=workspace_id,
                rows=batch,
                embedder=embedder,
                collection=collection,
                titles=titles,
                metadata=metadata,
            )

    # 6. graph nodes
    graph = stores.graph()
    graph.define_node_label(stores.GRAPH_LABEL)
    graph.bulk_load(
        nodes=[
            Node(
                stores.GRAPH_LABEL,
                str(d.pk),
                {"workspace_id": workspace_id, "title": p.title, "external_id": p.external_id},
            )
            for p, _, d in written
        ]
    )

    # 7. event, audit, cache
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
            "added": len(new),
            "updated": len(changed),
            "embedded": embed,
            "document_ids": written_ids[:1000],
        },
    )
    # New documents cannot have cached reads yet: only the updated ones need their tag dropped.
    _invalidate_caches(workspace_id, changed_ids)


# ---------------------------------------------------------------- embed


def document_embed(*, document_ids: Sequence[int]) -> int:
    """Embed the chunks of these documents that are not yet embedded with their workspace's
    model (creating the workspace's collection on demand) and mark the documents ready.
    Idempotent; returns how many chunks were embedded. Raises ``EmbeddingError`` when the
    provider fails (nothing is written)."""
    ids = sorted({int(i) for i in document_ids})
    if not ids:
        return 0
    with transaction.atomic():
        workspaces = sorted(set(Document.objects.filter(id__in=ids).values_list("workspace_id", flat=True)))
        for workspace_id in workspaces:
            _lock_workspace(workspace_id)
        grouped: dict[int, dict[int, str]] = defaultdict(dict)
        for doc_id, workspace_id, title in (
            Document.objects.select_for_update()
            .filter(id__in=ids)
            .order_by("id")
            .values_list("id", "workspace_id", "title")
        ):
            grouped[workspace_id][doc_id] = title
        return sum(_embed_documents(workspace_id, docs) for workspace_id, docs in sorted(grouped.items()))


def documents_reembed(*, workspace_id: int, document_ids: Sequence[int]) -> int:
    """Embed these documents of the workspace again with its model, even if they already are
    (e.g. after a failed or suspect embedding). Ids of other workspaces are ignored.
    Returns how many documents were re-embedded."""
    workspace_id = int(workspace_id)
    ids = sorted({int(i) for i in document_ids})
    with transaction.atomic():
        _lock_workspace(workspace_id)
        documents = dict(
            Document.objects.select_for_update()
            .filter(workspace_id=workspace_id, id__in=ids)
            .order_by("id")
            .values_list("id", "title")
        )
        if not documents:
            return 0
        Chunk.objects.filter(document_id__in=list(documents)).update(embedding_model="", embedded_at=None)
        _embed_documents(workspace_id, documents)
        _invalidate_caches(workspace_id, list(documents))
    return len(documents)


def document_embedding_failed(*, document_ids: Sequence[int], error: str) -> int:
    """Record that embedding these documents failed for good (status ``failed`` + audit entry);
    ``document_embed`` can still be called for them later. Returns how many were marked."""
    ids = sorted({int(i) for i in document_ids})
    with transaction.atomic():
        rows = list(
            Document.objects.filter(id__in=ids).exclude(status=Document.Status.READY).values_list("id", "workspace_id")
        )
        Document.objects.filter(id__in=[doc_id for doc_id, _ in rows]).update(status=Document.Status.FAILED)
        by_workspace: dict[int, list[int]] = defaultdict(list)
        for doc_id, workspace_id in rows:
            by_workspace[workspace_id].append(doc_id)
        for workspace_id, doc_ids in sorted(by_workspace.items()):
            audit_record(
                actor=None,
                action="content.documents.embed_failed",
                object_type="content.Document",
                object_id=f"{len(doc_ids)} documents",
                workspace_id=workspace_id,
                changes={"document_ids": doc_ids[:1000], "error": error[:2000]},
            )
            _invalidate_caches(workspace_id, doc_ids)
    return len(rows)


def workspace_embedding_model(*, workspace_id: int) -> str:
    """The model of the workspace's chunk vectors (what queries must be embedded with): its
    ``WorkspaceEmbedding`` row, or the configured provider's model before the first vector."""
    return _current_model(int(workspace_id), create=False)


def workspace_reembed(
    *,
    workspace_id: int,
    provider: str,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int | None = None,
) -> int:
    """Re-embed every chunk of the workspace with ``provider`` into that model's collection,
    then switch the workspace to it and drop its other collections.

    The chunks are embedded in batches, each in its own short transaction, while searches keep
    using the old model; the final switch (chunks added meanwhile, the model row, the drop) is
    one transaction under the workspace's exclusive lock. ``progress(done, total)`` is called
    after each batch. Returns the number of chunks embedded.
    """
    workspace_id = int(workspace_id)
    if not Workspace.objects.filter(pk=workspace_id).exists():
        raise Workspace.DoesNotExist(f"workspace {workspace_id} does not exist")
    embedder = get_embedder(provider)
    new_model = embedder.model
    old_model = workspace_embedding_model(workspace_id=workspace_id)
    size = int(batch_size or settings.STRATA_EMBEDDING_BATCH_SIZE)
    if size < 1:
        raise ValueError(f"batch_size must be positive, got {size}")
    with transaction.atomic():
        collection = _ensure_collection(workspace_id, new_model)

    total = Chunk.objects.filter(workspace_id=workspace_id).count()
    done: set[int] = set()

    def embed_batch(rows: list[tuple[int, int, str]]) -> None:
        doc_ids = {doc_id for _, doc_id, _ in rows}
        titles = dict(Document.objects.filter(id__in=doc_ids).values_list("id", "title"))
        _embed_rows(
            workspace_id=workspace_id,
            rows=rows,
            embedder=embedder,
            collection=collection,
            titles=titles,
            metadata=_document_metadata(doc_ids),
        )
        done.update(chunk_id for chunk_id, _, _ in rows)
        if progress is not None:
            progress(len(done), max(total, len(done)))

    # 1. every chunk that exists now, batch by batch (searches still use the old model)
    last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                Chunk.objects.filter(workspace_id=workspace_id, id__gt=last_id)
                .order_by("id")
                .values_list("id", "document_id", "text")[:size]
            )
            if not rows:
                break
            embed_batch(rows)
        last_id = rows[-1][0]

    # 2. the switch: nobody else writes to the workspace while it runs
    with transaction.atomic():
        _lock_workspace(workspace_id, exclusive=True)
        collection = _ensure_collection(workspace_id, new_model)
        current = set(Chunk.objects.filter(workspace_id=workspace_id).values_list("id", flat=True))
        missing = sorted(current - done)
        total = len(current)
        for ids in _batches(missing, size):
            embed_batch(list(Chunk.objects.filter(id__in=ids).order_by("id").values_list("id", "document_id", "text")))
        now = timezone.now()
        Chunk.objects.filter(workspace_id=workspace_id).update(embedding_model=new_model, embedded_at=now)
        Document.objects.filter(workspace_id=workspace_id).update(
            embedding_model=new_model, status=Document.Status.READY
        )
        WorkspaceEmbedding.objects.update_or_create(workspace_id=workspace_id, defaults={"model": new_model})
        dropped = [name for name in _workspace_collections(workspace_id) if name != collection]
        for name in dropped:
            stores.vectors().drop_collection(name)
        audit_record(
            actor=None,
            action="content.workspace.reembed",
            object_type="core.Workspace",
            object_id=workspace_id,
            workspace_id=workspace_id,
            changes={"from": old_model, "to": new_model, "chunks": len(done), "dropped": dropped},
        )
        _invalidate_caches(workspace_id, [])
    if progress is not None:
        progress(len(done), max(total, len(done)))
    return len(done)


# ---------------------------------------------------------------- delete


def document_delete(*, workspace_id: int, document_id: int, actor: Any = None) -> None:
    """Delete a document from every store: row, chunks, body, vectors, graph node (and its
    edges). Raises ``Document.DoesNotExist`` when it is not in this workspace."""
    workspace_id = int(workspace_id)
    with transaction.atomic():
        _lock_workspace(workspace_id)
        document = Document.objects.select_for_update().get(pk=int(document_id), workspace_id=workspace_id)
        chunk_keys = [str(i) for i in Chunk.objects.filter(document_id=document.pk).values_list("id", flat=True)]
        if chunk_keys:
            for collection in _workspace_collections(workspace_id):
                stores.vectors().delete(collection, chunk_keys)
        stores.documents().delete(stores.DOCUMENTS_COLLECTION, str(document.pk))
        graph = stores.graph()
        graph.define_node_label(stores.GRAPH_LABEL)
        graph.delete_node(NodeRef(stores.GRAPH_LABEL, str(document.pk)))
        info = {"external_id": document.external_id, "title": document.title}
        pk = document.pk
        document.delete()  # cascades to its chunks
        outbox_publish(
            event_type=EVENT_DELETED,
            payload={"workspace_id": workspace_id, "document_id": pk, **info},
            workspace_id=workspace_id,
        )
        audit_record(
            actor=actor,
            action="content.document.delete",
            object_type="content.Document",
            object_id=pk,
            workspace_id=workspace_id,
            changes=info,
        )
        _invalidate_caches(workspace_id, [pk])


__all__ = [
    "EVENT_DELETED",
    "EVENT_INGESTED",
    "IngestItem",
    "IngestReport",
    "ItemResult",
    "document_delete",
    "document_embed",
    "document_embedding_failed",
    "document_ingest",
    "documents_reembed",
    "workspace_embedding_model",
    "workspace_reembed",
]
