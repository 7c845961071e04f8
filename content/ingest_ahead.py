"""Vectors first (``STRATA_INGEST_VECTORS_FIRST``, experimental, off by default): a bulk ingest
whose index build overlaps the writing of its rows.

The build of a staged load needs every vector, and a vector's key is its chunk's id. So
``document_ingest_batches`` with this switch (and a staged load that ``premarks``) runs in two
passes over the batches: ``prepare`` validates, chunks and embeds each batch outside any
transaction as ``document_ingest`` does, allocates the ids of its new documents and of every
chunk from their sequences, and COPYs the vectors into the load under those ids; then the load
starts its index build on a connection of its own (``EmbeddingLoad.build_ahead``) while the
writer threads write the batches' rows with those ids (``document_ingest(ahead=...)``).
``finish`` waits for the build and swaps as usual.

A document whose row turns out other than prepared (a concurrent ingest created it, or an
earlier batch of the same file: another id) gets fresh chunk ids and no vectors: its staged
vectors match no chunk and are dropped by the load's anti-join, and the worker embeds it. An
unchanged one (same hash by then) writes nothing, and its staged vectors go the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from content import bm25, ingest, vector_bulk, vector_slices
from content.items import IngestItem, validate_items


def prepare(*, workspace_id: int, items: Sequence[IngestItem], load: vector_bulk.EmbeddingLoad) -> ingest.Ahead:
    """Validate, chunk and embed the batch, allocate its ids and stage its vectors in ``load``."""
    results, valid = validate_items(items)
    if valid:
        bm25.check_writable()
    prepared = ingest.prepare_batch(int(workspace_id), valid, embed=True, allocate=True)
    if prepared.chunk_ids and (prepared.collection, prepared.model) == (load.collection, load.model):
        for piece in _slices(int(workspace_id), prepared, valid):
            load.add(piece, marked=True)
        prepared.vectors = dict.fromkeys(prepared.vectors)  # staged: only which documents have them
    else:  # another model's vectors (a re-embed switched it): the batch is written as usual
        prepared.chunk_ids, prepared.document_ids = {}, {}
    return ingest.Ahead(results=results, valid=valid, prepared=prepared)


def _slices(workspace_id: int, prepared, valid) -> list[vector_slices.Slice]:
    def documents():
        for item, _ in valid:
            chunk_ids = prepared.chunk_ids.get(item.external_id)
            if chunk_ids is not None:
                document_id = prepared.document_ids[item.external_id]
                spans = prepared.spans[item.external_id]
                rows = [(chunk_id, document_id, span.text) for chunk_id, span in zip(chunk_ids, spans, strict=True)]
                yield document_id, item, rows, prepared.vectors[item.external_id]

    return vector_slices.documents_slices(workspace_id, prepared.model, prepared.collection, documents())
