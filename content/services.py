"""Writes of the content domain: ingest, embed, re-embed and delete documents (the public facade).

A document lives in all four data models of the one PostgreSQL: its ``Document`` row and
``Chunk`` rows (relational + full-text), its body ``{"title", "text", "metadata"}`` in the
DocumentStore, its chunks' embeddings in the VectorStore (one collection per workspace and
embedding model) and a node in the GraphStore. Each service writes all of them in ONE
transaction, so a batch is either entirely in every store or in none of them.

Concurrency: ingest, embed and delete take a shared per-workspace advisory lock and
``workspace_reembed`` takes it exclusively for its final switch, so the switch sees a
workspace nobody is writing to; document rows are locked in id order.

Each story has its module; other code imports the services from here:

* ``content.items``      the ingest item, its validation, the per-item results and report
* ``content.ingest``     ``document_ingest``: the batch write across the four stores
* ``content.bulk_ingest`` ``document_ingest_batches``: many batches written on a few threads
* ``content.embedding``  the workspace's model and collections; ``document_embed`` and friends
* ``content.reembed``    ``workspace_reembed``: switching a workspace to another model
* ``content.vector_bulk`` ``embedding_bulk_load``: a large load of vectors, one index build
* ``content.deletion``   ``document_delete``
"""

from __future__ import annotations

from content.bulk_ingest import document_ingest_batches
from content.deletion import EVENT_DELETED, document_delete
from content.embedding import (
    document_embed,
    document_embedding_failed,
    documents_reembed,
    workspace_embedding,
    workspace_embedding_model,
)
from content.ingest import EVENT_INGESTED, document_ingest
from content.items import OUTCOMES, IngestItem, IngestReport, ItemResult, Outcome
from content.pending_loads import EVENT_UNEMBEDDED
from content.reembed import workspace_reembed
from content.vector_bulk import EmbeddingLoad, embedding_bulk_load

__all__ = [
    "EVENT_DELETED",
    "EVENT_INGESTED",
    "EVENT_UNEMBEDDED",
    "OUTCOMES",
    "IngestItem",
    "IngestReport",
    "ItemResult",
    "Outcome",
    "document_delete",
    "EmbeddingLoad",
    "document_embed",
    "embedding_bulk_load",
    "document_embedding_failed",
    "document_ingest",
    "document_ingest_batches",
    "documents_reembed",
    "workspace_embedding",
    "workspace_embedding_model",
    "workspace_reembed",
]
