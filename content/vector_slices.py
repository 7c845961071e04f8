"""Writing chunk vectors in small slices, each committed on its own (issue 6: one event used to
embed ~2,000 chunks in one transaction, and a worker restart threw them all away).

A slice holds up to ``STRATA_EMBEDDING_SLICE_SIZE`` chunks whose vectors were computed outside
any transaction. ``write_slice`` writes them to every backend the content app's vector route
writes to, and records them embedded, in one short transaction:

1. it takes the workspace's shared lock and the route's (shared advisory locks: they block no
   ingest, only a route change or a move's reconciliation, which must not see the vectors in one
   backend while the other is still to commit them);
2. the backends that do not share the database transaction (Qdrant, ...) get the vectors first
   (an upsert by chunk id: repeating it changes nothing), before any row is locked;
3. it locks the slice's documents in id order, keeps only the chunks whose document still has
   the content hash they were embedded from and that still exist, upserts those into the
   backends that share the transaction, and marks them embedded (and their documents ready once
   every chunk is);
4. after the commit, the vectors of chunks that vanished meanwhile (a re-ingest replaced them)
   are deleted again from the backends of step 2, so nothing is left without its chunk.

A process killed anywhere leaves either nothing marked (the next delivery embeds and writes the
slice again, same keys) or a committed slice. Locks are held for one slice only, so an ingest of
the same documents waits at most for one slice, not for a whole batch's embedding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from content import caching, stores
from content.embeddings import DIMENSION, native_dimension
from content.models import Chunk, Document, PendingLoadDocument
from core.storage import routing
from core.storage.ports import (
    CollectionConflict,
    ModelMismatch,
    StorageError,
    Store,
    UnknownCollection,
    VectorItem,
    VectorStore,
)

logger = logging.getLogger(__name__)


@dataclass
class Slice:
    """Vectors of up to a slice's worth of chunks of one workspace, for one model's collection."""

    workspace_id: int
    model: str
    collection: str
    rows: list[tuple[int, int, str]]  # (chunk_id, document_id, text)
    vectors: np.ndarray
    titles: dict[int, str] = field(default_factory=dict)
    metadata: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: the documents' content hashes the vectors were made from (re-checked before marking)
    hashes: dict[int, str] = field(default_factory=dict)

    def items(self, chunk_ids: set[int] | None = None) -> list[VectorItem]:
        return [
            VectorItem(
                key=str(chunk_id),
                vector=vector,
                metadata={
                    "workspace_id": self.workspace_id,
                    "document_id": doc_id,
                    "chunk_id": chunk_id,
                    "doc": self.metadata.get(doc_id, {}),
                },
            )
            for (chunk_id, doc_id, _), vector in zip(self.rows, self.vectors, strict=True)
            if chunk_ids is None or chunk_id in chunk_ids
        ]


def slice_size() -> int:
    return max(1, int(settings.STRATA_EMBEDDING_SLICE_SIZE))


def make_slices(
    *,
    workspace_id: int,
    model: str,
    collection: str,
    rows: Sequence[tuple[int, int, str]],
    vectors: Sequence[Any],
    titles: Mapping[int, str],
    metadata: Mapping[int, dict[str, Any]],
    hashes: Mapping[int, str],
) -> list[Slice]:
    size = slice_size()
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(rows), -1) if rows else np.zeros((0, 0))
    pieces = []
    for start in range(0, len(rows), size):
        part = list(rows[start : start + size])
        doc_ids = {doc_id for _, doc_id, _ in part}
        pieces.append(
            Slice(
                workspace_id=workspace_id,
                model=model,
                collection=collection,
                rows=part,
                vectors=matrix[start : start + size],
                titles={d: titles[d] for d in doc_ids if d in titles},
                metadata={d: metadata[d] for d in doc_ids if d in metadata},
                hashes={d: hashes[d] for d in doc_ids if d in hashes},
            )
        )
    return pieces


def documents_slices(
    workspace_id: int,
    model: str,
    collection: str,
    documents: Iterable[tuple[int, Any, list[tuple[int, int, str]], Any]],
) -> list[Slice]:
    """``make_slices`` of ``(document id, its ingest item, its chunk rows, their vectors)``: the
    vectors keyed by chunk id, with each document's title, metadata and content hash."""
    rows: list[tuple[int, int, str]] = []
    vectors: list[Any] = []
    titles: dict[int, str] = {}
    metadata: dict[int, dict[str, Any]] = {}
    hashes: dict[int, str] = {}
    for document_id, item, document_rows, document_vectors in documents:
        rows.extend(document_rows)
        vectors.extend(document_vectors)
        titles[document_id] = item.title
        metadata[document_id] = item.metadata
        hashes[document_id] = item.content_hash
    return make_slices(
        workspace_id=workspace_id,
        model=model,
        collection=collection,
        rows=rows,
        vectors=vectors,
        titles=titles,
        metadata=metadata,
        hashes=hashes,
    )


def upsert_slice(piece: Slice, targets: Sequence[tuple[str, Store]]) -> None:
    """Upsert the slice into backends that share the caller's transaction (ingest's bulk path)."""
    items = piece.items()
    for _, store in targets:
        store.upsert(piece.collection, items, model=piece.model)  # type: ignore[attr-defined]


def _live_chunks(piece: Slice) -> set[int]:
    """Lock the slice's documents (id order) and return the chunks still to be written: those
    that exist and whose document kept the content hash the vectors were made from."""
    doc_ids = sorted({doc_id for _, doc_id, _ in piece.rows})
    current = dict(
        Document.objects.select_for_update().filter(id__in=doc_ids).order_by("id").values_list("id", "content_hash")
    )
    valid = [d for d, content_hash in current.items() if piece.hashes.get(d, content_hash) == content_hash]
    return set(
        Chunk.objects.filter(id__in=[row[0] for row in piece.rows], document_id__in=valid).values_list("id", flat=True)
    )


def mark_embedded(workspace_id: int, chunk_ids: Sequence[int], document_ids: Sequence[int], model: str) -> int:
    """Record chunks embedded with ``model`` and mark ready those of ``document_ids`` that have
    no chunk left to embed and are in no open bulk load (caller holds their row locks); moves the content version when
    anything changed. Returns the documents marked ready."""
    if chunk_ids:
        Chunk.objects.filter(id__in=list(chunk_ids)).update(embedding_model=model, embedded_at=timezone.now())
    waiting = set(
        Chunk.objects.filter(document_id__in=list(document_ids))
        .exclude(embedding_model=model)
        .values_list("document_id", flat=True)
    )
    marked = (
        Document.objects.filter(id__in=[d for d in document_ids if d not in waiting])
        .exclude(status=Document.Status.READY, embedding_model=model)
        # a document in an open bulk load: its chunks carry the model before its vectors are
        # searchable (content/pending_loads.py); the load marks it ready
        .exclude(id__in=PendingLoadDocument.objects.values("document_id"))
        .update(status=Document.Status.READY, embedding_model=model)
    )
    if chunk_ids or marked:  # semantic search and the document pages now show the embedding
        caching.bump_content_version(workspace_id)
    return marked


def write_slice(piece: Slice, *, mark: bool = True) -> int:
    """Write the slice to every vector backend that receives writes and (``mark``) record its
    chunks embedded (see the module docstring). Returns how many chunks it wrote."""
    if not piece.rows:
        return 0
    written: list[Store] = []  # backends outside the transaction that got the vectors
    with transaction.atomic():
        stores.lock_workspace(piece.workspace_id)
        targets = stores.vector_targets(routing.write_route(stores.APP, "vectors"))
        for _, store in targets:
            if not store.features.joins_db_transaction:
                _upsert(store, piece, piece.items())
                written.append(store)
        live = _live_chunks(piece)
        if live:
            items = piece.items(live)
            for _, store in targets:
                if store.features.joins_db_transaction:
                    _upsert(store, piece, items)
        if mark:
            _mark(piece, live)
    return drop_gone(piece, live, written)


def _mark(piece: Slice, live: set[int]) -> None:
    """Mark the slice's live chunks (and their documents) embedded with its model."""
    mark_embedded(
        piece.workspace_id,
        sorted(live),
        sorted({doc_id for chunk_id, doc_id, _ in piece.rows if chunk_id in live}),
        piece.model,
    )


def drop_gone(piece: Slice, live: set[int], written: Sequence[Store]) -> int:
    """Delete from ``written`` the vectors of the slice's chunks that vanished meanwhile; returns
    the chunks kept."""
    gone = [str(chunk_id) for chunk_id, _, _ in piece.rows if chunk_id not in live]
    if gone:
        for store in written:
            store.delete(piece.collection, gone)  # type: ignore[attr-defined]
    return len(live)


def mark_rows(piece: Slice, *, mark: bool = True) -> set[int]:
    """After a bulk load made the slice's vectors visible (content/vector_bulk.py), in one
    transaction as ``write_slice`` does: the slice's chunks that still exist with their
    documents' hashes, marked embedded (``mark``); ``drop_gone`` then deletes the others'
    vectors. Slices of other documents may be marked at the same time on other connections
    (their rows are locked in id order, the content version last)."""
    with transaction.atomic():
        stores.lock_workspace(piece.workspace_id)
        live = _live_chunks(piece)
        if mark:
            _mark(piece, live)
    return live


def merged(pieces: Sequence[Slice], *, rows: int) -> list[Slice]:
    """The slices (of one workspace, model and collection) regrouped into slices of about
    ``rows`` chunks, without their vectors: marking 2,000 chunks per transaction instead of 64
    saves a round trip per statement and a content-version bump per slice."""
    groups: list[Slice] = []
    for piece in pieces:
        last = groups[-1] if groups else None
        if last is None or len(last.rows) + len(piece.rows) > rows:
            groups.append(
                Slice(
                    workspace_id=piece.workspace_id,
                    model=piece.model,
                    collection=piece.collection,
                    rows=list(piece.rows),
                    vectors=piece.vectors[:0],
                    hashes=dict(piece.hashes),
                )
            )
        else:
            last.rows.extend(piece.rows)
            last.hashes.update(piece.hashes)
    return groups


def ensure_collection(store: VectorStore, name: str, model: str) -> None:
    """The collection in one backend, created if missing (in a transaction, or a savepoint, of
    its own for a store that shares the database transaction: call it outside long ones);
    refuses one of another model or dimension."""
    try:
        existing = store.get_collection(name)
    except UnknownCollection:
        with transaction.atomic():
            store.create_collection(name, dimension=DIMENSION, model=model, index_dimensions=native_dimension(model))
        return
    if existing.model != model:
        raise ModelMismatch(f"vector collection {name!r} holds {existing.model!r} vectors, not {model!r}")
    if existing.dimension != DIMENSION:
        raise CollectionConflict(f"vector collection {name!r} has dimension {existing.dimension}, not {DIMENSION}")


def _upsert(store: Store, piece: Slice, items: list[VectorItem]) -> None:
    """Upsert, creating the collection in a backend that lacks it (one ``storage_move`` just
    added to the route); a backend sharing the transaction gets it in a savepoint."""
    vectors: VectorStore = store  # type: ignore[assignment]
    try:
        vectors.upsert(piece.collection, items, model=piece.model)
    except UnknownCollection:
        with transaction.atomic():
            ensure_collection(vectors, piece.collection, piece.model)
        vectors.upsert(piece.collection, items, model=piece.model)


def write_slice_safely(piece: Slice) -> int:
    """``write_slice`` after an ingest committed: a store that fails leaves the slice to the
    worker (the ingest's outbox event embeds whatever is not marked embedded)."""
    try:
        return write_slice(piece)
    except StorageError as error:
        logger.warning(
            "content: could not write %d vectors of workspace %s now (%s); the worker will embed them",
            len(piece.rows),
            piece.workspace_id,
            error,
        )
        return 0
