"""Embedding a workspace's chunks: the workspace's model and its vector collections, and the
services that embed (or re-embed) documents with the workspace's model.

Embedding never runs inside a transaction: chunks are read, embedded by the provider, and then
written in slices of ``STRATA_EMBEDDING_SLICE_SIZE`` chunks, each committed on its own with a
re-check of the documents' content hashes (content/vector_slices.py). Collections are created in
every vector backend the route writes to, each in its own transaction, before any slice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from content import caching, pending_loads, stores, vector_bulk, vector_slices
from content.embeddings import DIMENSION, Embedder, EmbeddingError
from content.models import Chunk, Document, DocumentSource
from content.workspace_model import current_embedding, workspace_embedder
from core.services import audit_record

# ---------------------------------------------------------------- helpers


def workspace_collections(workspace_id: int) -> list[str]:
    """Every vector collection of the workspace in the backend serving reads."""
    prefix = stores.chunk_collection(workspace_id=workspace_id, model="x")[:-1]
    return sorted(c.name for c in stores.vectors().list_collections() if c.name.startswith(prefix))


def batches(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def embedding_input(title: str, text: str) -> str:
    return f"{title}\n\n{text}" if title else text


def ensure_collections(workspace_id: int, model: str) -> str:
    """The workspace's collection for ``model`` in every vector backend that receives writes,
    created where missing, each in its own transaction (creating one builds an index: never
    inside a long transaction). Refuses a collection of that name holding another model."""
    name = stores.chunk_collection(workspace_id=workspace_id, model=model)
    for _, vectors in stores.vector_targets():
        vector_slices.ensure_collection(vectors, name, model)  # type: ignore[arg-type]
    return name


def current_model(workspace_id: int, *, create: bool) -> str:
    """The workspace's model (``content.workspace_model.current_embedding``)."""
    return current_embedding(workspace_id, create=create)[1]


def embed_texts(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Embed in provider-sized batches (no transaction may be open around this: it may be a
    network call); raises EmbeddingError on a wrong shape."""
    parts = []
    for batch in batches(list(texts), settings.STRATA_EMBEDDING_BATCH_SIZE):
        matrix = embedder.embed(list(batch))
        if matrix.shape != (len(batch), DIMENSION):
            raise EmbeddingError(
                f"{embedder.model} returned shape {matrix.shape}, expected ({len(batch)}, {DIMENSION})"
            )
        parts.append(matrix)
    return np.concatenate(parts) if parts else np.zeros((0, DIMENSION), dtype=np.float32)


def document_rows(document_ids: Iterable[int]) -> tuple[dict[int, str], dict[int, dict[str, Any]], dict[int, str]]:
    """Titles, metadata and content hashes of documents, from their rows."""
    ids = list(document_ids)
    titles, hashes = {}, {}
    for doc_id, title, content_hash in Document.objects.filter(id__in=ids).values_list("id", "title", "content_hash"):
        titles[doc_id], hashes[doc_id] = title, content_hash
    metadata = dict(DocumentSource.objects.filter(document_id__in=ids).values_list("document_id", "metadata"))
    return titles, metadata, hashes


def embed_rows(
    *,
    workspace_id: int,
    rows: Sequence[tuple[int, int, str]],
    embedder: Embedder,
    collection: str,
    mark: bool = True,
    load: vector_bulk.EmbeddingLoad | None = None,
) -> int:
    """Embed ``(chunk_id, document_id, text)`` rows (outside any transaction) and write them in
    committed slices into ``collection`` of every vector backend; ``mark``: record them
    embedded. With a bulk ``load`` the slices go to it instead (its ``finish`` writes and marks
    them). Returns the chunks written (or handed to the load)."""
    written = 0
    for part in batches(list(rows), vector_slices.slice_size()):
        titles, metadata, hashes = document_rows({doc_id for _, doc_id, _ in part})
        matrix = embed_texts(embedder, [embedding_input(titles.get(doc_id, ""), text) for _, doc_id, text in part])
        [piece] = vector_slices.make_slices(
            workspace_id=workspace_id,
            model=embedder.model,
            collection=collection,
            rows=part,
            vectors=matrix,
            titles=titles,
            metadata=metadata,
            hashes=hashes,
        )
        written += load.add(piece) if load is not None else vector_slices.write_slice(piece, mark=mark)
    return written


def embed_documents(workspace_id: int, document_ids: Sequence[int], *, again: bool = False) -> int:
    """Embed the chunks of these documents of one workspace with its model that are not yet
    embedded with it (``again``: all of them), slice by slice; then mark ready the documents
    with nothing left to embed. Returns the chunks embedded."""
    pending_loads.settle(document_ids)  # none of them in a running bulk load; dead loads released
    embedder, model = workspace_embedder(workspace_id)
    collection = ensure_collections(workspace_id, model)
    chunks = Chunk.objects.filter(workspace_id=workspace_id, document_id__in=list(document_ids))
    if not again:
        chunks = chunks.exclude(embedding_model=model)
    load = vector_bulk.open_load(workspace_id=workspace_id, collection=collection, model=model, rows=chunks.count())
    embedded, last_id = 0, 0
    try:
        while True:  # by id, so a chunk that cannot be marked (gone meanwhile) is not read again
            rows = list(chunks.filter(id__gt=last_id).order_by("id").values_list("id", "document_id", "text")[:1000])
            if not rows:
                break
            embedded += embed_rows(
                workspace_id=workspace_id, rows=rows, embedder=embedder, collection=collection, load=load
            )
            last_id = rows[-1][0]
    except BaseException:
        if load is not None:
            load.abort()
        raise
    if load is not None:  # the bulk path: one index build, then the chunks are marked
        embedded = load.finish()
    with transaction.atomic():  # documents without chunks, or whose chunks were all embedded before
        stores.lock_workspace(workspace_id)
        locked = list(
            Document.objects.select_for_update()
            .filter(workspace_id=workspace_id, id__in=list(document_ids))
            .order_by("id")
            .values_list("id", flat=True)
        )
        vector_slices.mark_embedded(workspace_id, [], locked, model)
    return embedded


# ---------------------------------------------------------------- services


def _by_workspace(document_ids: Sequence[int]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = defaultdict(list)
    for doc_id, workspace_id in (
        Document.objects.filter(id__in=list(document_ids)).order_by("id").values_list("id", "workspace_id")
    ):
        grouped[workspace_id].append(doc_id)
    return dict(sorted(grouped.items()))


def document_embed(*, document_ids: Sequence[int]) -> int:
    """Embed the chunks of these documents that are not yet embedded with their workspace's
    model (creating the workspace's collections on demand) and mark the documents ready.
    Idempotent, in committed slices (a slice written stays written); returns how many chunks
    were embedded. Raises ``EmbeddingError`` when the provider fails (the slices written
    before stay), ``StoreUnavailable`` when a vector store cannot be reached."""
    ids = sorted({int(i) for i in document_ids})
    return sum(embed_documents(workspace_id, docs) for workspace_id, docs in _by_workspace(ids).items())


def documents_reembed(*, workspace_id: int, document_ids: Sequence[int]) -> int:
    """Embed these documents of the workspace again with its model, even if they already are
    (e.g. after a failed or suspect embedding); their vectors are replaced slice by slice. Ids
    of other workspaces are ignored. Returns how many documents were re-embedded."""
    workspace_id = int(workspace_id)
    ids = sorted({int(i) for i in document_ids})
    documents = list(Document.objects.filter(workspace_id=workspace_id, id__in=ids).values_list("id", flat=True))
    if documents:
        embed_documents(workspace_id, documents, again=True)
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
