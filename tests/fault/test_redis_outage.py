"""Redis down during page views and writes (issue 6, fault suite): the real site (gunicorn on
the test database) runs with REDIS_URL pointing at a throwaway Redis that the test stops, so
both the cache and the Celery broker are gone. Every page still answers (uncached, logged,
never a 500), an upload still writes, and when Redis comes back WITH its old cached entries no
page or search shows the old content."""

from __future__ import annotations

import pytest

from content import services, stores
from content.models import Document
from content.services import IngestItem
from core import services as core_services
from tests.live_site import Browser, Gunicorn
from tests.redis_server import ThrowawayRedis

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(tmp_path, django_user_model):
    redis = ThrowawayRedis(tmp_path / "redis").start(persistent=True)
    user = django_user_model.objects.create_user(username="rita", password="pw-rita-123")
    workspace = core_services.workspace_create(name="Outage lab", owner=user)
    server = Gunicorn(tmp_path / "gunicorn.log", env={"REDIS_URL": redis.url})
    try:
        yield redis, server, workspace
    finally:
        server.stop()
        redis.kill()
        for document_id in Document.objects.filter(workspace=workspace).values_list("id", flat=True):
            services.document_delete(workspace_id=workspace.pk, document_id=document_id)
        for collection in stores.vectors().list_collections():
            if collection.name.startswith(f"content.ws{workspace.pk}."):
                stores.vectors().drop_collection(collection.name)


def test_pages_and_uploads_work_while_redis_is_down_and_nothing_is_stale_after(site):
    redis, server, workspace = site
    services.document_ingest(
        workspace_id=workspace.pk, items=[IngestItem("heron.txt", "heron.txt", "Grey herons stalk fish.")], embed=True
    )
    doc_id = Document.objects.get(workspace=workspace).pk
    browser = Browser(server.base)
    browser.log_in("rita", "pw-rita-123")
    page_url = f"/content/documents/{doc_id}/"

    def pages() -> dict[str, int]:
        return {
            url: browser.get(url, params).status
            for url, params in [
                ("/", None),
                ("/content/", None),
                ("/content/", {"q": "heron"}),
                (page_url, None),
                ("/content/search/", {"q": "herons"}),
                ("/content/search/", {"q": "herons", "mode": "semantic"}),
                ("/content/search/", {"q": "fish", "mode": "fulltext", "filters": "lang=en"}),
                ("/healthz", None),
            ]
        }

    assert set(pages().values()) == {200}  # cached now, in the throwaway Redis
    assert "Grey herons stalk fish." in browser.get(page_url).text

    redis.stop()  # saves the cached pages; cache and broker are gone
    assert set(pages().values()) == {200}
    uploaded = browser.upload("/content/", {"heron.txt": b"Little egrets wade in wetlands."})
    assert uploaded.status == 200 and "updated" in uploaded.text
    assert "Little egrets wade in wetlands." in browser.get(page_url).text
    assert Document.objects.get(pk=doc_id).status == Document.Status.PENDING  # the worker will embed it

    redis.start(persistent=True)  # back, with the old cached page and search results
    page = browser.get(page_url)
    assert page.status == 200 and "Little egrets wade in wetlands." in page.text
    assert "Grey herons" not in page.text
    search = browser.get("/content/search/", {"q": "herons", "mode": "fulltext"})
    assert search.status == 200 and f"/content/documents/{doc_id}/" not in search.text

    log = server.output()
    assert "cache unreachable" in log  # logged, once per outage and process
    assert "could not enqueue the relay task" in log  # the outbox event waits for beat
    assert "Internal Server Error" not in log  # Django logs every 500 so
