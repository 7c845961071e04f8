"""Outbox handlers of the content app (run by the outbox relay in the Celery worker): embedding
the documents an ingest wrote, and (content/projections.py) the projections of its rows into
the document, vector and graph stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from content import (  # noqa: F401  (importing projections registers them)
    bm25_workspaces,
    pending_loads,
    projections,
    services,
    workspace_cleanup,
)
from content.embeddings import EmbeddingError
from core import outbox

if TYPE_CHECKING:
    from core.models import OutboxEvent


@outbox.register(services.EVENT_INGESTED, name="content.embed_ingested_documents", transactional=False)
@outbox.register(services.EVENT_UNEMBEDDED, name="content.embed_ingested_documents", transactional=False)
def embed_ingested_documents(event: OutboxEvent) -> None:
    """Embed the chunks of the documents an ingest wrote, or an aborted bulk load left unembedded
    (content/pending_loads.py), a no-op for those already embedded, in committed slices outside
    any transaction (content/vector_slices.py).

    A failing provider or an unreachable vector store makes the outbox retry the event with
    backoff (the slices written so far stay); on its last attempt a failing provider marks the
    documents ``failed`` instead of leaving a dead letter. Documents that a running bulk load
    writes itself defer the event (not an attempt) until the load has ended."""
    document_ids = event.payload.get("document_ids") or []
    try:
        services.document_embed(document_ids=document_ids)
    except pending_loads.LoadRunning as running:
        raise outbox.Deferred(str(running)) from running
    except EmbeddingError as exc:
        if event.attempts + 1 < settings.STRATA_OUTBOX_MAX_ATTEMPTS:
            raise
        services.document_embedding_failed(document_ids=document_ids, error=str(exc))


@outbox.register(services.EVENT_INGESTED, name="content.index_ingested_workspace", transactional=False)
def index_ingested_workspace(event: OutboxEvent) -> None:
    """After a workspace's ingest, give it its own BM25 indexes if it has none yet (idempotent),
    or refresh their planner statistics when the ingest grew them well past the estimate.
    Outside the relay's transaction: the index DDL and its table lock run in a short transaction of
    their own (``content.bm25_workspaces.ensure``)."""
    workspace_id = event.payload.get("workspace_id")
    if workspace_id is None:
        return
    if bm25_workspaces.indexes_for(int(workspace_id)) is None:
        bm25_workspaces.ensure(int(workspace_id))
    else:
        bm25_workspaces.refresh_statistics(int(workspace_id))
