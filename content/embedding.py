"""Embedding a workspace's chunks: the workspace's model and its vector collections, embedding
rows into them, and the services that embed (or re-embed) documents with the workspace's model.

Embedding runs inside the caller's transaction under the workspace's shared lock, so a
document's vectors commit together with its ``ready`` status or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from content import caching, stores
from content.embeddings import DIMENSION, Embedder, EmbeddingError
from content.models import Chunk, Document
from content.workspace_model import current_embedding, workspace_embedder
from core.services import audit_record
from core.storage.ports import CollectionConflict, ModelMismatch, UnknownCollection, VectorItem

# ---------------------------------------------------------------- helpers


def workspace_collections(workspace_id: int) -> list[str]:
    """Every vector collection of the workspace (the current model's, and a re-embed's target)."""
    prefix = stores.chunk_collection(workspace_id=workspace_id, model="x")[:-1]
    return sorted(c.name for c in stores.vectors().list_collections() if c.name.startswith(prefix))


def batches(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def embedding_input(title: str, text: str) -> str:
    return f"{title}\n\n{text}" if title else text


def ensure_collection(workspace_id: int, model: str) -> str:
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


def current_model(workspace_id: int, *, create: bool) -> str:
    """The workspace's model (``content.workspace_model.current_embedding``)."""
    return current_embedding(workspace_id, create=create)[1]


def embed_rows(
    *,
    workspace_id: int,
    rows: Sequence[tuple[int, int, str]],
    embedder: Embedder,
    collection: str,
    titles: Mapping[int, str],
    metadata: Mapping[int, dict[str, Any]],
) -> None:
    """Embed ``(chunk_id, document_id, text)`` rows and upsert them into ``collection``."""
    matrix = embedder.embed([embedding_input(titles.get(doc_id, ""), text) for _, doc_id, text in rows])
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


def document_metadata(document_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    bodies = stores.documents().get_many(stores.DOCUMENTS_COLLECTION, [str(i) for i in document_ids])
    return {int(key): (body.get("metadata") or {}) for key, body in bodies.items()}


def embed_documents(workspace_id: int, documents: Mapping[int, str]) -> int:
    """Embed the not-yet-embedded chunks of ``documents`` ({id: title}) of one workspace with
    its model (caller holds the workspace lock, inside a transaction). Returns chunks embedded."""
    model = current_model(workspace_id, create=True)
    chunk_rows = list(
        Chunk.objects.filter(document_id__in=list(documents))
        .exclude(embedding_model=model)
        .order_by("id")
        .values_list("id", "document_id", "text")
    )
    if chunk_rows:
        embedder, model = workspace_embedder(workspace_id)
        collection = ensure_collection(workspace_id, model)
        metadata = document_metadata({doc_id for _, doc_id, _ in chunk_rows})
        now = timezone.now()
        for batch in batches(chunk_rows, settings.STRATA_EMBEDDING_BATCH_SIZE):
            embed_rows(
                workspace_id=workspace_id,
                rows=batch,
                embedder=embedder,
                collection=collection,
                titles=documents,
                metadata=metadata,
            )
            Chunk.objects.filter(id__in=[row[0] for row in batch]).update(embedding_model=model, embedded_at=now)
    marked = (
        Document.objects.filter(id__in=list(documents))
        .exclude(status=Document.Status.READY, embedding_model=model)
        .update(status=Document.Status.READY, embedding_model=model)
    )
    if chunk_rows or marked:  # semantic search and the document pages now show the embedding
        caching.bump_content_version(workspace_id)
    return len(chunk_rows)


# ---------------------------------------------------------------- services


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
            stores.lock_workspace(workspace_id)
        grouped: dict[int, dict[int, str]] = defaultdict(dict)
        for doc_id, workspace_id, title in (
            Document.objects.select_for_update()
            .filter(id__in=ids)
            .order_by("id")
            .values_list("id", "workspace_id", "title")
        ):
            grouped[workspace_id][doc_id] = title
        embedded = 0
        for workspace_id, docs in sorted(grouped.items()):
            # The cached document pages said "Waiting for embedding" and semantic results change
            # too: embed_documents moves the workspace's content version when it writes anything.
            embedded += embed_documents(workspace_id, docs)
        return embedded


def documents_reembed(*, workspace_id: int, document_ids: Sequence[int]) -> int:
    """Embed these documents of the workspace again with its model, even if they already are
    (e.g. after a failed or suspect embedding). Ids of other workspaces are ignored.
    Returns how many documents were re-embedded."""
    workspace_id = int(workspace_id)
    ids = sorted({int(i) for i in document_ids})
    with transaction.atomic():
        stores.lock_workspace(workspace_id)
        documents = dict(
            Document.objects.select_for_update()
            .filter(workspace_id=workspace_id, id__in=ids)
            .order_by("id")
            .values_list("id", "title")
        )
        if not documents:
            return 0
        Chunk.objects.filter(document_id__in=list(documents)).update(embedding_model="", embedded_at=None)
        embed_documents(workspace_id, documents)
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
            caching.bump_content_version(workspace_id)
    return len(rows)


def workspace_embedding_model(*, workspace_id: int) -> str:
    """The model of the workspace's chunk vectors (what queries must be embedded with): its
    ``WorkspaceEmbedding`` row, or the configured provider's model before the first ingest."""
    return current_model(int(workspace_id), create=False)


def workspace_embedding(*, workspace_id: int) -> tuple[str, str]:
    """The workspace's ``(provider, model)`` (the configured ones before its first ingest)."""
    return current_embedding(int(workspace_id), create=False)
