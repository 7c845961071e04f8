"""Large embedding loads through the vector stores' bulk path (``VectorStore.bulk_load``).

Writing slice by slice (content/vector_slices.py) inserts every vector into the live HNSW
index: 3.5-4.7 ms of CPU per row. A load of many vectors instead opens one ``bulk_load`` per
vector backend of the content route: pgvector stages it when it is large against the
collection (COPY into a hidden unindexed copy, one index build, one swap: searches see the old
vectors until the new index is valid, then all of them), other stores take live batches.

``EmbeddingLoad`` is that load for content. Two kinds of slices go into it:

- an ingest batch's (``add(slice, marked=True)``): when every backend stages the load, the
  batch INSERTed those chunks already carrying the load's model and recorded their documents in
  the load's ``PendingLoad`` (content/pending_loads.py: the invariant that keeps this honest is
  in its doc). ``finish`` deletes from the staged copy, before the index build, the vectors of
  those chunks that vanished meanwhile (one anti-join: ``pending_loads.gone_chunks``), builds
  and swaps in the index, then marks the documents ready (``pending_loads.complete``): no
  chunk row is updated;
- existing chunks' (``add(slice)``: ``document_embed``, ``documents_reembed``): ``finish``
  marks them embedded after the swap as ``write_slice`` does (the documents' content hashes
  re-checked under their row locks; vectors of chunks that vanished meanwhile deleted again),
  2,000 chunks per transaction on ``STRATA_INGEST_WORKERS`` connections.

``add`` may be called from several threads (content/bulk_ingest.py), each inside ``joined()``.
A load that fails or is aborted marks nothing embedded: chunks written carrying its model are
unmarked (``pending_loads.release``) and the worker embeds them (the vectors already staged are
dropped with the hidden copy).

Used, when the load is large (``STRATA_VECTOR_BULK_MIN_ROWS`` vectors or more; the store then
applies its switch point ``STRATA_VECTOR_BULK_FRACTION``), by ``manage.py ingest --embed`` (one
load for the whole file), ``document_ingest(embed=True)`` with many chunks in one batch,
``document_embed`` / ``documents_reembed`` and ``workspace_reembed`` (``manage.py reembed``).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, ExitStack, closing
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from content import pending_loads, stores, vector_slices
from core import parallel
from core.storage import routing
from core.storage.ports import StorageError, VectorLoad, VectorStore

logger = logging.getLogger(__name__)

#: chunks marked embedded per transaction when a load finishes
MARK_ROWS = 2000


def large(rows: int) -> bool:
    """Worth a bulk load (the store still decides by the collection's size)?"""
    return rows >= int(settings.STRATA_VECTOR_BULK_MIN_ROWS) and not connection.in_atomic_block


class EmbeddingLoad:
    """One load of chunk vectors into a workspace's collection (see the module doc)."""

    def __init__(self, *, workspace_id: int, collection: str, model: str, rows: int, mark: bool = True) -> None:
        self.workspace_id = int(workspace_id)
        self.collection = collection
        self.model = model
        self.mark = mark
        self.pending: list[vector_slices.Slice] = []  # the slices to mark (without their vectors)
        self.loaded: list[int] = []  # the chunks written carrying the model (``add(marked=True)``)
        self.record: int | None = None  # their ``PendingLoad`` (content/pending_loads.py)
        self.loads: list[VectorLoad] = []
        try:
            with transaction.atomic():  # the route as it is now (a storage_move may change it later)
                targets = stores.vector_targets(routing.write_route(stores.APP, "vectors"))
            for _, store in targets:
                vectors: VectorStore = store  # type: ignore[assignment]
                vector_slices.ensure_collection(vectors, collection, model)
                self.loads.append(vectors.bulk_load(collection, model=model, rows=rows))
            if mark and self.loads and all(load.staged for load in self.loads):
                self.record = pending_loads.open_record(workspace_id=self.workspace_id, model=model)
        except BaseException:
            self.abort()
            raise

    @property
    def staged(self) -> bool:
        """Does any backend stage the load (else writing slice by slice is as good)?"""
        return any(load.staged for load in self.loads)

    @property
    def premarks(self) -> bool:
        """Do ingest batches write their chunks carrying the model (module doc)?"""
        return self.record is not None

    def add(self, piece: vector_slices.Slice, *, marked: bool = False) -> int:
        """Stage the slice's vectors; ``marked``: its chunks already carry the model and their
        documents are recorded in ``self.record`` (an ingest batch of a ``premarks`` load)."""
        items = piece.items()
        for load in self.loads:
            load.add(items)
        if marked:
            self.loaded.extend(chunk_id for chunk_id, _, _ in piece.rows)
            return len(items)
        self.pending.append(
            vector_slices.Slice(
                workspace_id=piece.workspace_id,
                model=piece.model,
                collection=piece.collection,
                rows=piece.rows,
                vectors=piece.vectors[:0],
                hashes=piece.hashes,
            )
        )
        return len(items)

    @property
    def threadable(self) -> bool:
        """May other threads ``add`` to it? Only when every backend is a database store (its
        writes go through the calling thread's connection); another store's client belongs to
        the thread that opened the load."""
        return all(load.store.features.joins_db_transaction for load in self.loads)

    def joined(self) -> AbstractContextManager[None]:
        """The calling thread writes for this load inside the block (a bulk ingest's writer
        thread: its deletes of replaced chunks' vectors reach the staged copy too)."""
        stack = ExitStack()
        for load in self.loads:
            stack.enter_context(load.joined())
        return stack

    def finish(self, *, workers: int | None = None) -> int:
        """Make the load visible in every backend, then mark its chunks, ``MARK_ROWS`` per
        transaction on ``workers`` threads (``STRATA_INGEST_WORKERS``), and ready the documents of
        the chunks written carrying the model; returns the chunks marked or kept (those written,
        with ``mark=False``)."""
        marked = self.swap()
        workers = int(settings.STRATA_INGEST_WORKERS) if workers is None else workers
        if self.record is not None:
            record, self.record = self.record, None
            pending_loads.complete(record, workers=workers)
        groups = vector_slices.merged(self.pending, rows=MARK_ROWS)
        self.pending = []
        # each group's transaction on a worker's connection; the deletes of vanished chunks'
        # vectors here, through this thread's stores
        outcomes = parallel.ordered_map(
            lambda piece: vector_slices.mark_rows(piece, mark=self.mark), groups, workers=workers
        )
        with closing(outcomes):  # an error stops the threads before it propagates
            for outcome in outcomes:
                marked += vector_slices.drop_gone(outcome.item, outcome.get(), self.loads_stores())
        return marked

    def build_ahead(self) -> None:
        """Start every backend's index build now, on its own connection (content/ingest_ahead.py);
        ``swap`` waits for it."""
        for load in self.loads:
            load.build_ahead()

    def swap(self) -> int:
        """``finish``'s first step (a no-op once done): the staged vectors of vanished chunks
        dropped, then every backend's load made visible (the index build and swap); returns the
        chunks kept of those written carrying the model."""
        kept = 0
        try:
            if self.loaded:  # fewer vectors to index: those of vanished chunks go first
                kept = len(self.loaded) - self._drop_gone_loaded()
            for load in self.loads:
                load.finish()
        except BaseException:
            self.abort()
            raise
        self.loaded = []
        return kept

    def _drop_gone_loaded(self) -> int:
        """Delete (this thread is the load's session: from the staged copy) the vectors of the
        loaded chunks that vanished or whose document changed; returns how many."""
        gone = pending_loads.gone_chunks(self.record, self.loaded) if self.record is not None else []
        keys = [str(chunk_id) for chunk_id in gone]
        for start in range(0, len(keys), 5000):
            for store in self.loads_stores():
                store.delete(self.collection, keys[start : start + 5000])
        return len(gone)

    def abort(self) -> None:
        for load in self.loads:
            try:
                load.abort()
            except Exception as error:  # noqa: BLE001 (the first error is the one raised)
                logger.warning("content: could not abort a vector load of %s: %s", self.collection, error)
        self.pending = []
        self.loaded = []
        if self.record is not None:
            record, self.record = self.record, None
            try:  # else the worker finds the load dead (its lock is free) and releases it
                pending_loads.release(record)
            except Exception as error:  # noqa: BLE001
                logger.warning("content: could not release bulk load %s of %s: %s", record, self.collection, error)

    def loads_stores(self) -> list[Any]:
        return [load.store for load in self.loads]

    def __enter__(self) -> EmbeddingLoad:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is None:
            self.finish()
        else:
            self.abort()


def open_load(*, workspace_id: int, collection: str, model: str, rows: int, mark: bool = True) -> EmbeddingLoad | None:
    """An ``EmbeddingLoad`` when ``rows`` is large and a backend stages it, else None (write
    slice by slice)."""
    if not large(rows):
        return None
    load = EmbeddingLoad(workspace_id=workspace_id, collection=collection, model=model, rows=rows, mark=mark)
    if load.staged:
        return load
    load.abort()
    return None


def embedding_bulk_load(*, workspace_id: int, rows: int) -> EmbeddingLoad | None:
    """A bulk load of about ``rows`` chunk vectors into the workspace's collection of its
    (current or, before its first ingest, configured) model, or None when small."""
    from content import embedding  # embedding imports this module

    _, model = embedding.workspace_embedder(workspace_id, create=False)
    collection = embedding.ensure_collections(workspace_id, model)
    return open_load(workspace_id=workspace_id, collection=collection, model=model, rows=rows)


def load_for_batch(
    bulk: EmbeddingLoad | None, workspace_id: int, collection: str, model: str, vectors: dict[str, Any]
) -> EmbeddingLoad | None:
    """The load an ingest batch's vectors go to: the caller's ``bulk`` load when it is for the
    batch's collection, else one of the batch's own when the batch has many vectors, else None
    (they are written in the batch's transaction, or slice by slice)."""
    if not model or not vectors:
        return None
    if bulk is not None:
        return bulk if (bulk.collection, bulk.model) == (collection, model) else None
    rows = sum(len(matrix) for matrix in vectors.values())
    return open_load(workspace_id=workspace_id, collection=collection, model=model, rows=rows)


def write_after_commit(slices: list[vector_slices.Slice], load: EmbeddingLoad | None, *, own: bool) -> None:
    """After an ingest batch committed: its slices into the bulk ``load`` (finished here when it
    is the batch's ``own``), or each written on its own (a failing store leaves them to the worker)."""
    if load is None:
        for piece in slices:
            vector_slices.write_slice_safely(piece)
        return
    if not own:
        for piece in slices:
            load.add(piece, marked=load.premarks)
        return
    try:
        for piece in slices:
            load.add(piece, marked=load.premarks)
        load.finish()
    except StorageError as error:  # the rows are committed: the outbox event has the worker embed them
        load.abort()
        logger.warning("content: bulk load of %s failed (%s); the worker will embed it", load.collection, error)
