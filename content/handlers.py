"""Outbox handlers of the content app (run by the outbox relay in the Celery worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from content import services
from content.embeddings import EmbeddingError
from core import outbox

if TYPE_CHECKING:
    from core.models import OutboxEvent


@outbox.register(services.EVENT_INGESTED, name="content.embed_ingested_documents")
def embed_ingested_documents(event: OutboxEvent) -> None:
    """Embed the chunks of the documents an ingest wrote (a no-op for those already embedded).

    A failing provider makes the outbox retry the event with backoff; on its last attempt the
    documents are marked ``failed`` instead of leaving a dead letter."""
    document_ids = event.payload.get("document_ids") or []
    try:
        services.document_embed(document_ids=document_ids)
    except EmbeddingError as exc:
        if event.attempts + 1 < settings.STRATA_OUTBOX_MAX_ATTEMPTS:
            raise
        services.document_embedding_failed(document_ids=document_ids, error=str(exc))
