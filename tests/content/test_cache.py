"""Search results and the document page are cached in the real Redis under the workspace's
content version, so a change or delete of a document of the workspace is seen at once."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django_redis import get_redis_connection

from content import selectors, stores
from content.embeddings import get_embedder
from content.models import Chunk, Document
from content.services import IngestItem, document_delete, document_ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run a service and then its on-commit callbacks (the cache invalidation), as a real commit would."""

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return run


@pytest.fixture
def docs(workspace, other_workspace, commit) -> dict[str, int]:
    model = get_embedder().model
    for ws in (workspace, other_workspace):  # before any vector is written (one test = one transaction)
        stores.vectors().create_collection(
            stores.chunk_collection(workspace_id=ws.pk, model=model), dimension=1536, model=model
        )
    report = commit(
        document_ingest,
        workspace_id=workspace.pk,
        items=[
            IngestItem("heron", "Herons", "Grey herons stalk fish in shallow water.", metadata={"k": "bird"}),
            IngestItem("egret", "Egrets", "Little egrets are white herons of wetlands.", metadata={"k": "bird"}),
            IngestItem("carp", "Carp", "Carp are fish of ponds and slow rivers.", metadata={"k": "fish"}),
        ],
        embed=True,
    )
    other = commit(
        document_ingest,
        workspace_id=other_workspace.pk,
        items=[IngestItem("bob-heron", "Bob's herons", "Herons herons herons.")],
        embed=True,
    )
    return {r.external_id: r.document_id for r in report.results + other.results}


def redis_keys() -> set[bytes]:
    return set(get_redis_connection("default").scan_iter(count=1000))


def hide_from_fulltext(document_id: int) -> None:
    """Change the database behind the services' back (no invalidation): only a cache can still find it."""
    Chunk.objects.filter(document_id=document_id).update(search_vector=None, text="(hidden)")
    Document.objects.filter(pk=document_id).update(title="(hidden)")


def test_search_results_are_cached_in_redis(workspace, docs):
    before = redis_keys()
    hits = selectors.search(workspace_id=workspace.pk, query="herons", mode="fulltext")
    assert {h.document_id for h in hits} == {docs["heron"], docs["egret"]}
    added = redis_keys() - before
    assert any(b"content:search-ranking:" in key for key in added)

    hide_from_fulltext(docs["heron"])
    cached = selectors.search(workspace_id=workspace.pk, query="herons", mode="fulltext")
    assert cached == hits  # served from Redis: the database no longer matches "heron"

    # different arguments are a different key
    fresh = selectors.search(workspace_id=workspace.pk, query="herons", mode="fulltext", limit=5)
    assert {h.document_id for h in fresh} == {docs["egret"]}


def test_ingesting_a_document_invalidates_the_workspaces_search_results(workspace, docs, commit):
    hits = selectors.search(workspace_id=workspace.pk, query="herons", mode="hybrid")
    hide_from_fulltext(docs["heron"])
    assert selectors.search(workspace_id=workspace.pk, query="herons", mode="hybrid") == hits

    commit(
        document_ingest,
        workspace_id=workspace.pk,
        items=[IngestItem("bittern", "Bitterns", "Bitterns are shy herons of reed beds.")],
        embed=True,
    )
    new_ids = {d.external_id: d.pk for d in Document.objects.filter(workspace=workspace)}
    after = selectors.search(workspace_id=workspace.pk, query="herons", mode="fulltext")
    assert {h.document_id for h in after} == {docs["egret"], new_ids["bittern"]}


def test_changing_a_document_invalidates_search_and_its_page(workspace, docs, commit):
    page = selectors.document_with_context(workspace_id=workspace.pk, document_id=docs["carp"])
    hits = selectors.search(workspace_id=workspace.pk, query="carp", mode="fulltext")
    assert page.text == "Carp are fish of ponds and slow rivers."
    assert [h.document_id for h in hits] == [docs["carp"]]

    # a write that bypasses the services is not seen: both reads come from the cache
    Document.objects.filter(pk=docs["carp"]).update(title="Changed behind the back")
    assert selectors.document_with_context(workspace_id=workspace.pk, document_id=docs["carp"]).title == "Carp"
    assert selectors.search(workspace_id=workspace.pk, query="carp", mode="fulltext") == hits

    commit(
        document_ingest,
        workspace_id=workspace.pk,
        items=[IngestItem("carp", "Koi carp", "Koi are coloured carp of garden ponds.", metadata={"k": "fish"})],
        embed=True,
    )
    page = selectors.document_with_context(workspace_id=workspace.pk, document_id=docs["carp"])
    assert page.title == "Koi carp" and page.text == "Koi are coloured carp of garden ponds."
    assert [c.text for c in page.chunks] == ["Koi are coloured carp of garden ponds."]
    hits = selectors.search(workspace_id=workspace.pk, query="koi", mode="fulltext")
    assert [h.document_id for h in hits] == [docs["carp"]]


@override_settings(STRATA_RELEVANCE_FLOORS={"hashing-1536-v2": 0.0})  # heron and egret share too few words
def test_deleting_a_document_invalidates_search_and_its_page(workspace, docs, commit):
    assert selectors.document_with_context(workspace_id=workspace.pk, document_id=docs["heron"]).title == "Herons"
    egret_page = selectors.document_with_context(workspace_id=workspace.pk, document_id=docs["egret"])
    assert docs["heron"] in {s.document_id for s in egret_page.similar}
    semantic = selectors.search(workspace_id=workspace.pk, query="grey herons stalk fish", mode="semantic")
    assert semantic[0].document_id == docs["heron"]

    commit(document_delete, workspace_id=workspace.pk, document_id=docs["heron"])

    with pytest.raises(Document.DoesNotExist):
        selectors.document_with_context(workspace_id=workspace.pk, document_id=docs["heron"])
    semantic = selectors.search(workspace_id=workspace.pk, query="grey herons stalk fish", mode="semantic")
    assert docs["heron"] not in {h.document_id for h in semantic}
    egret_page = selectors.document_with_context(workspace_id=workspace.pk, document_id=docs["egret"])
    assert docs["heron"] not in {s.document_id for s in egret_page.similar}


def test_the_document_page_is_cached_per_workspace(workspace, other_workspace, docs):
    page = selectors.document_with_context(workspace_id=workspace.pk, document_id=docs["heron"])
    assert page.document.pk == docs["heron"]
    # a cached page is never served to another workspace
    with pytest.raises(Document.DoesNotExist):
        selectors.document_with_context(workspace_id=other_workspace.pk, document_id=docs["heron"])


def test_another_workspaces_change_keeps_this_workspaces_cache(workspace, other_workspace, docs, commit):
    hits = selectors.search(workspace_id=workspace.pk, query="herons", mode="fulltext")
    hide_from_fulltext(docs["heron"])
    commit(
        document_ingest,
        workspace_id=other_workspace.pk,
        items=[IngestItem("bob-2", "Bob's second", "More herons.")],
        embed=True,
    )
    assert selectors.search(workspace_id=workspace.pk, query="herons", mode="fulltext") == hits


def test_embedding_in_the_background_drops_the_cached_document_page(workspace, commit):
    """The worker's document_embed must not leave the page saying "Waiting for embedding"."""
    from content.services import document_embed

    items = [IngestItem("owl", "Owls", "Owls hunt at night.")]
    report = commit(document_ingest, workspace_id=workspace.pk, items=items, embed=False)
    doc_id = report.results[0].document_id
    before = selectors.document_with_context(workspace_id=workspace.pk, document_id=doc_id)
    assert before.document.status == Document.Status.PENDING  # ... and now cached

    commit(document_embed, document_ids=[doc_id])

    after = selectors.document_with_context(workspace_id=workspace.pk, document_id=doc_id)
    assert after.document.status == Document.Status.READY
    assert after.document.embedding_model == get_embedder().model
