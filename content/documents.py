"""Reads of documents: the document page (row, body, chunks, similar documents, graph
neighbours), the document list, metadata lookups and the workspace's content summary.
Everything is scoped to one workspace; the document page is cached under the workspace's
content version (content/caching.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q

from content import caching, stores
from content.models import Chunk, Document, DocumentSource, WorkspaceEmbedding
from content.semantic import workspace_floor
from core.storage.ports import Node, NodeNotFound, NodeRef, UnknownCollection, UnknownLabel

DOCUMENTS_PER_PAGE = 50
MAX_SIMILAR = 20
_MAX_K = 1000  # the vector port's largest k (pgvector's ef_search bound)


@dataclass(frozen=True)
class ChunkView:
    id: int
    ordinal: int
    text: str
    start_offset: int
    end_offset: int
    token_count: int
    embedding_model: str


@dataclass(frozen=True)
class SimilarDocument:
    document_id: int
    title: str
    external_id: str
    score: float


@dataclass(frozen=True)
class DocumentContext:
    """Everything the document page shows, read from the four data models in one place."""

    document: Document
    title: str
    text: str
    metadata: dict[str, Any]
    chunks: list[ChunkView] = field(default_factory=list)
    similar: list[SimilarDocument] = field(default_factory=list)
    related: list[Node] = field(default_factory=list)


def stored_embedding_model(*, workspace_id: int) -> str | None:
    """The model the workspace's chunk vectors were made with (None before any embedding)."""
    return WorkspaceEmbedding.objects.filter(workspace_id=workspace_id).values_list("model", flat=True).first()


# ---------------------------------------------------------------- the document page


def _similar_documents(
    *, workspace_id: int, document: Document, chunk_ids: list[int], similar: int
) -> list[SimilarDocument]:
    model = stored_embedding_model(workspace_id=workspace_id)
    if not model or similar <= 0 or not chunk_ids:
        return []
    floor = workspace_floor(workspace_id=workspace_id, model=model)
    collection = stores.chunk_collection(workspace_id=workspace_id, model=model)
    vector_store = stores.vectors()
    vectors = []
    try:
        for chunk_id in chunk_ids[:32]:
            item = vector_store.get(collection, str(chunk_id))
            if item is not None:
                vectors.append(np.asarray(item.vector, dtype=np.float32))
    except UnknownCollection:
        return []
    if not vectors:
        return []
    centroid = np.mean(vectors, axis=0)
    norm = float(np.linalg.norm(centroid))
    if not math.isfinite(norm) or norm == 0.0:
        return []
    centroid = centroid / norm
    # The document's own chunks come first; ask for enough to get past them, widening if needed.
    k = min(len(chunk_ids) + similar * 4, _MAX_K)
    best: dict[int, float] = {}
    while True:
        hits = vector_store.search(
            collection, centroid.tolist(), model=model, k=k, filter={"workspace_id": workspace_id}
        )
        best = {}
        for hit in hits:
            try:
                doc_id = int(hit.metadata.get("document_id"))
            except (TypeError, ValueError):
                continue
            if doc_id != document.pk and doc_id not in best and float(hit.score) >= floor:
                best[doc_id] = float(hit.score)  # hits are closest first: the first is the best
        past_floor = bool(hits) and float(hits[-1].score) < floor  # more hits would be weaker still
        if len(best) >= similar or len(hits) < k or k >= _MAX_K or past_floor:
            break
        k = min(k * 4, _MAX_K)
    rows = {
        row["id"]: row
        for row in Document.objects.filter(workspace_id=workspace_id, id__in=list(best)).values(
            "id", "title", "external_id"
        )
    }
    ranked = sorted(((score, doc_id) for doc_id, score in best.items() if doc_id in rows), key=lambda x: (-x[0], x[1]))
    return [
        SimilarDocument(
            document_id=doc_id, title=rows[doc_id]["title"], external_id=rows[doc_id]["external_id"], score=s
        )
        for s, doc_id in ranked[:similar]
    ]


def _related_nodes(*, document_id: int, limit: int = 50) -> list[Node]:
    try:
        return stores.graph().neighbours(NodeRef(stores.GRAPH_LABEL, str(document_id)), direction="both", limit=limit)
    except (NodeNotFound, UnknownLabel):
        return []


def document_with_context(*, workspace_id: int, document_id: int, similar: int = 8) -> DocumentContext:
    """The document page in one read: the row, its body and metadata, its chunks, the most similar
    other documents of the workspace and its neighbours in the graph.

    Raises Document.DoesNotExist when the document is not in the workspace.
    """
    workspace_id, document_id = int(workspace_id), int(document_id)
    similar = max(0, min(int(similar), MAX_SIMILAR))

    def compute() -> DocumentContext:
        # Raises Document.DoesNotExist for another workspace's document; nothing is cached then.
        # (The cache key holds the workspace, so a cached page is only ever served to its workspace.)
        document = Document.objects.get(pk=document_id, workspace_id=workspace_id)
        # The body is a projection of the rows: until a dedicated store has it, show the record.
        body = _body(document.pk) or _body_from_rows(document)
        chunks = [
            ChunkView(**row)
            for row in Chunk.objects.filter(document=document, workspace_id=workspace_id)
            .order_by("ordinal")
            .values("id", "ordinal", "text", "start_offset", "end_offset", "token_count", "embedding_model")
        ]
        return DocumentContext(
            document=document,
            title=body.get("title") or document.title,
            text=body.get("text") or "",
            metadata=body.get("metadata") or {},
            chunks=chunks,
            similar=_similar_documents(
                workspace_id=workspace_id, document=document, chunk_ids=[c.id for c in chunks], similar=similar
            ),
            related=_related_nodes(document_id=document.pk),
        )

    # the relevance floors decide which similar documents show
    floors = sorted((settings.STRATA_RELEVANCE_FLOORS or {}).items())
    return caching.cached("document", workspace_id=workspace_id, parts=(document_id, similar, floors), compute=compute)


def document_body(*, workspace_id: int, document_id: int) -> dict[str, Any] | None:
    """The stored JSON body of one document of the workspace (None if it has none)."""
    if not Document.objects.filter(pk=document_id, workspace_id=workspace_id).exists():
        return None
    return _body(int(document_id))


def _body_from_rows(document: Document) -> dict[str, Any]:
    source = DocumentSource.objects.filter(document_id=document.pk).values("text", "metadata").first() or {}
    return {"title": document.title, "text": source.get("text", ""), "metadata": source.get("metadata") or {}}


def _body(document_id: int) -> dict[str, Any] | None:
    try:
        return stores.documents().get(stores.DOCUMENTS_COLLECTION, str(document_id))
    except UnknownCollection:
        return None


# ---------------------------------------------------------------- lists and summaries


def document_list(*, workspace_id: int, status: str | None = None, q: str | None = None, page: int | str = 1) -> Page:
    """One page of the workspace's documents, newest first; ``q`` matches title or external id."""
    documents = Document.objects.filter(workspace_id=workspace_id)
    if status:
        documents = documents.filter(status=status)
    if q and q.strip():
        documents = documents.filter(Q(title__icontains=q.strip()) | Q(external_id__icontains=q.strip()))
    documents = documents.order_by("-updated_at", "-id")
    return Paginator(documents, DOCUMENTS_PER_PAGE).get_page(page)


MAX_STATUS_IDS = 100


@dataclass(frozen=True)
class DocumentStatus:
    id: int
    status: str
    status_label: str
    chunk_count: int
    embedding_model: str


def document_statuses(*, workspace_id: int, document_ids: list[int]) -> list[DocumentStatus]:
    """The embedding status of some of the workspace's documents (the pages refresh it in place);
    ids of other workspaces are silently absent. At most MAX_STATUS_IDS ids are read."""
    ids = [int(doc_id) for doc_id in document_ids[:MAX_STATUS_IDS]]
    labels = dict(Document.Status.choices)
    rows = (
        Document.objects.filter(workspace_id=workspace_id, id__in=ids)
        .order_by("id")
        .values("id", "status", "chunk_count", "embedding_model")
    )
    return [DocumentStatus(status_label=labels.get(row["status"], row["status"]), **row) for row in rows]


def document_ids_matching_metadata(*, workspace_id: int | None, metadata: Mapping[str, Any]) -> list[int]:
    """Ids of the workspace's documents whose metadata contains ``metadata`` (``workspace_id=None``:
    any workspace, for callers that scope the ids themselves, like the admin's queryset)."""
    contains: dict[str, Any] = {"metadata": dict(metadata)}
    if workspace_id is not None:
        contains["workspace_id"] = int(workspace_id)
    try:
        ids = stores.documents().find_ids(stores.DOCUMENTS_COLLECTION, contains=contains)
    except UnknownCollection:  # nothing was ever ingested
        return []
    return [int(doc_id) for doc_id in ids if doc_id.isascii() and doc_id.isdigit()]


def workspace_summary(*, workspace_id: int) -> dict[str, Any]:
    """The content section of the home page."""
    counts = Document.objects.filter(workspace_id=workspace_id).aggregate(
        total=Count("id"),
        ready=Count("id", filter=Q(status=Document.Status.READY)),
        pending=Count("id", filter=Q(status=Document.Status.PENDING)),
        failed=Count("id", filter=Q(status=Document.Status.FAILED)),
    )
    return {
        "title": "Content",
        "items": [
            ("Documents", counts["total"]),
            ("Ready", counts["ready"]),
            ("Waiting for embedding", counts["pending"]),
            ("Embedding failed", counts["failed"]),
            ("Chunks", Chunk.objects.filter(workspace_id=workspace_id).count()),
            ("Embedding model", stored_embedding_model(workspace_id=workspace_id) or "none yet"),
        ],
    }
