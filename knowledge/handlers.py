"""Outbox handlers of the knowledge app, run by the outbox relay in the Celery worker:
extraction of ingested (or re-extraction-requested) documents, forgetting deleted ones, and
the fact vectors; importing ``projections`` registers the graph projection."""

from __future__ import annotations

from django.db import transaction

from content import selectors as content
from content import services as content_services
from core import outbox
from core.models import OutboxEvent
from core.storage.ports import UnknownCollection, VectorItem, VectorStore
from knowledge import projections, stores, workspace_cleanup  # noqa: F401  (importing them registers them)
from knowledge.extract import document_forget, documents_extract
from knowledge.models import Fact
from knowledge.writes import EVENT_FACTS_CHANGED

EVENT_EXTRACT_REQUESTED = "knowledge.extract.requested"


@outbox.register(content_services.EVENT_INGESTED, name="knowledge.extract_ingested", transactional=False)
def extract_ingested(event: OutboxEvent) -> None:
    """Extract what the ingested documents are about (unchanged documents are skipped). An
    extractor failure (e.g. the LLM endpoint down) raises: the outbox retries with backoff."""
    documents_extract(
        workspace_id=int(event.payload["workspace_id"]), document_ids=event.payload.get("document_ids") or []
    )


@outbox.register(EVENT_EXTRACT_REQUESTED, name="knowledge.extract_requested", transactional=False)
def extract_requested(event: OutboxEvent) -> None:
    documents_extract(
        workspace_id=int(event.payload["workspace_id"]),
        document_ids=event.payload.get("document_ids") or [],
        force=True,
    )


@outbox.register(content_services.EVENT_DELETED, name="knowledge.forget_deleted")
def forget_deleted(event: OutboxEvent) -> None:
    document_forget(workspace_id=int(event.payload["workspace_id"]), document_id=int(event.payload["document_id"]))


@outbox.register(EVENT_FACTS_CHANGED, name="knowledge.embed_facts", transactional=False)
def embed_facts(event: OutboxEvent) -> None:
    """Write the vectors of the named facts that exist (the workspace's embedding model, one
    collection per workspace and model) and delete those of facts that are gone, in every
    vector backend receiving the app's writes. The embedding call runs outside any transaction;
    re-running it writes the same vectors (idempotent)."""
    workspace_id = int(event.payload["workspace_id"])
    ids = [int(i) for i in event.payload.get("fact_ids") or []]
    facts = dict(Fact.objects.filter(pk__in=ids, workspace_id=workspace_id).values_list("pk", "statement"))
    gone = [str(i) for i in ids if i not in facts]
    model, matrix = content.embed_for_workspace(workspace_id=workspace_id, texts=list(facts.values()))
    name = stores.fact_collection(workspace_id=workspace_id, model=model)
    items = [
        VectorItem(str(pk), row.tolist(), {"workspace_id": workspace_id, "fact_id": pk})
        for pk, row in zip(facts, matrix, strict=True)
    ]
    for _, store in stores.vector_targets():
        _write(store, name, model, items, gone)  # type: ignore[arg-type]


def _write(store: VectorStore, name: str, model: str, items: list[VectorItem], gone: list[str]) -> None:
    with transaction.atomic():
        try:
            store.get_collection(name)
        except UnknownCollection:
            if not items:
                return  # nothing to write or delete (e.g. the workspace was deleted meanwhile)
            store.create_collection(name, dimension=1536, model=model, index_dimensions=content.native_dimension(model))
        if items:
            store.upsert(name, items, model=model)
        if gone:
            store.delete(name, gone)
