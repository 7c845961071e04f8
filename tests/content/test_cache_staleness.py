"""A cached page or search result can never be stale, whatever Redis's state while a write
commits (issue 6, defect 4): every cached read's key holds the workspace's content version,
which the writing transaction bumps in PostgreSQL. No invalidation message can be lost.

The content cache is pointed at a throwaway Redis (tests/redis_server.py) with persistence,
which the test stops while a write commits and starts again from its saved data, old entries
included: exactly the case where an invalidation is lost."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from content import selectors, stores
from content.services import IngestItem, document_delete, document_embed, document_ingest
from core.storage import storages
from tests.redis_server import ThrowawayRedis

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_server(tmp_path, settings):
    server = ThrowawayRedis(tmp_path / "redis").start(persistent=True)
    settings.CACHES = {
        **settings.CACHES,
        "content-test": {
            **settings.CACHES["default"],
            "LOCATION": server.url,
            "OPTIONS": {**settings.CACHES["default"]["OPTIONS"], "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    settings.STRATA_STORAGE = {
        **settings.STRATA_STORAGE,
        "content": {"cache": {"BACKEND": "core.storage.redis_cache.RedisCache", "alias": "content-test"}},
    }
    storages.reset()
    yield server
    server.kill()
    caches["content-test"].close()
    storages.reset()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a write and then its on-commit callbacks, as a real commit would."""

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return run


def test_a_write_while_redis_is_down_leaves_no_stale_page_or_search(workspace, redis_server, committed):
    [doc_id] = committed(
        document_ingest,
        workspace_id=workspace.pk,
        items=[IngestItem("heron", "Herons", "Grey herons stalk fish.")],
        embed=True,
    ).document_ids
    assert (
        selectors.document_with_context(workspace_id=workspace.pk, document_id=doc_id).text == "Grey herons stalk fish."
    )
    assert [h.document_id for h in selectors.search(workspace_id=workspace.pk, query="herons", mode="fulltext")] == [
        doc_id
    ]

    redis_server.stop()  # saves both cached reads; the write below cannot reach Redis
    committed(
        document_ingest,
        workspace_id=workspace.pk,
        items=[IngestItem("heron", "Egrets", "Little egrets wade in wetlands.")],
        embed=True,
    )
    redis_server.start(persistent=True)  # ... and Redis comes back with the old entries
    stores.cache()._down_until = 0  # don't wait out the retry window

    page = selectors.document_with_context(workspace_id=workspace.pk, document_id=doc_id)
    assert (page.title, page.text) == ("Egrets", "Little egrets wade in wetlands.")
    assert selectors.search(workspace_id=workspace.pk, query="herons", mode="fulltext") == []
    assert [h.document_id for h in selectors.search(workspace_id=workspace.pk, query="egrets", mode="fulltext")] == [
        doc_id
    ]


def test_every_content_write_moves_the_version(workspace, redis_server, committed):
    from content.caching import content_version

    versions = [content_version(workspace_id=workspace.pk)]
    [doc_id] = committed(
        document_ingest, workspace_id=workspace.pk, items=[IngestItem("a", "A", "Text a.")], embed=False
    ).document_ids
    versions.append(content_version(workspace_id=workspace.pk))
    committed(document_embed, document_ids=[doc_id])  # the worker's embedding changes search results
    versions.append(content_version(workspace_id=workspace.pk))
    committed(document_ingest, workspace_id=workspace.pk, items=[IngestItem("a", "A", "Text a.")])  # unchanged
    versions.append(content_version(workspace_id=workspace.pk))
    committed(document_delete, workspace_id=workspace.pk, document_id=doc_id)
    versions.append(content_version(workspace_id=workspace.pk))
    assert versions[0] < versions[1] < versions[2] == versions[3] < versions[4]
