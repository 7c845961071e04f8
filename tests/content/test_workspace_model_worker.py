"""The embedding model belongs to the workspace: a REAL Celery worker started with another
``STRATA_EMBEDDING_PROVIDER`` still embeds a workspace's documents with the workspace's model, and
a worker that cannot load the workspace's provider says which one (with the command to switch)."""

from __future__ import annotations

import pytest
from django.db import transaction

from content import selectors, services
from content.models import Document, WorkspaceEmbedding
from core.models import AuditEntry
from tests.workers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ITEMS = [
    services.IngestItem("heron", "Grey heron", "Herons wade in shallow water and spear fish with their bills."),
    services.IngestItem("bread", "Sourdough", "A starter of flour and water leavens sourdough bread."),
]


def _ingest(workspace) -> list[int]:
    with transaction.atomic():  # committed: the outbox kicks the worker
        report = services.document_ingest(workspace_id=workspace.pk, items=ITEMS)
    assert not report.failed
    return report.document_ids


def test_a_worker_with_other_settings_embeds_with_the_workspaces_model(start_worker, workspace):
    # This process (the ingest) uses the default provider, hashing; the worker is configured for
    # an OpenAI-compatible server that does not exist, so using its own settings would fail.
    worker = start_worker(
        concurrency=1,
        env={
            "STRATA_EMBEDDING_PROVIDER": "openai",
            "STRATA_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "STRATA_OPENAI_MAX_RETRIES": "0",
        },
    )
    ids = _ingest(workspace)
    assert WorkspaceEmbedding.objects.values_list("provider", "model").get(workspace_id=workspace.pk) == (
        "hashing",
        "hashing-1536-v2",
    )

    def all_ready() -> bool:
        return Document.objects.filter(id__in=ids, status=Document.Status.READY).count() == len(ids)

    wait_until(worker, all_ready, "the worker to embed the documents")
    assert set(Document.objects.filter(id__in=ids).values_list("embedding_model", flat=True)) == {"hashing-1536-v2"}
    hits = selectors.search(
        workspace_id=workspace.pk, query="Herons wade in shallow water and spear fish with their bills", mode="semantic"
    )
    assert hits and hits[0].external_id == "heron"


def test_a_worker_that_cannot_load_the_workspaces_provider_names_it(start_worker, workspace):
    WorkspaceEmbedding.objects.create(
        workspace_id=workspace.pk, provider="sentence-transformers", model="sentence-transformers/all-MiniLM-L6-v2"
    )
    worker = start_worker(
        concurrency=1,
        env={
            "STRATA_EMBEDDING_PROVIDER": "hashing",
            "STRATA_SENTENCE_TRANSFORMERS_MODEL_PATH": "/nonexistent/minilm",
            "STRATA_OUTBOX_MAX_ATTEMPTS": "1",
        },
    )
    ids = _ingest(workspace)

    def all_failed() -> bool:
        return Document.objects.filter(id__in=ids, status=Document.Status.FAILED).count() == len(ids)

    wait_until(worker, all_failed, "the documents to be marked failed")
    error = AuditEntry.objects.get(action="content.documents.embed_failed", workspace_id=workspace.pk).changes["error"]
    assert "'sentence-transformers'" in error
    assert f"./strata manage reembed --workspace {workspace.slug} --provider" in error
