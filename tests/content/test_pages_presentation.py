"""What the content pages show people: the status endpoint behind the in-place refresh, search
pagination, human scores, rendered (sanitised) Markdown, one navigation."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from content import selectors, stores
from content.models import Document
from content.services import IngestItem
from content.templatetags.content_extras import MARKDOWN_MAX_CHARS, markdown, markdown_cache_key, share_of
from tests.content.helpers import ingest

pytestmark = pytest.mark.django_db


def test_the_status_endpoint_reports_the_workspaces_documents_only(client, user, workspace, other_workspace):
    mine = ingest(workspace.pk, IngestItem("a", "A", "Alpha text."), IngestItem("b", "B", "Beta text."), embed=False)
    theirs = ingest(other_workspace.pk, IngestItem("c", "C", "Gamma text."), embed=False)
    Document.objects.filter(pk=mine["b"]).update(status=Document.Status.READY, embedding_model="m-1")
    url = reverse("content:document-statuses")
    assert client.get(url, {"ids": str(mine["a"])}).status_code == 302  # login first

    client.force_login(user)
    response = client.get(url, {"ids": f"{mine['a']},{mine['b']},{theirs['c']}"})

    assert response.status_code == 200
    assert response.json() == {
        "documents": [
            {
                "id": mine["a"],
                "status": "pending",
                "status_label": "Waiting for embedding",
                "chunk_count": 1,
                "embedding_model": "",
            },
            {"id": mine["b"], "status": "ready", "status_label": "Ready", "chunk_count": 1, "embedding_model": "m-1"},
        ]
    }  # Bob's document is not there
    assert client.get(url, {"ids": "1,x"}).status_code == 400
    assert client.get(url).json() == {"documents": []}


def test_pending_rows_carry_what_the_refresh_script_needs(client, user, workspace):
    ids = ingest(workspace.pk, IngestItem("a", "A", "Alpha text."), embed=False)
    client.force_login(user)
    html = client.get(reverse("content:document-list")).content.decode()
    assert f'data-status-url="{reverse("content:document-statuses")}"' in html
    assert f'<tr data-document="{ids["a"]}" data-status="pending">' in html
    assert 'data-field="status_label">Waiting for embedding<' in html
    assert "content/status.js" in html


def test_search_results_are_paginated_with_the_query_kept(client, user, workspace):
    ingest(workspace.pk, *(IngestItem(f"d{i}", f"Walrus note {i}", f"The walrus number {i} basks.") for i in range(45)))
    client.force_login(user)
    url = reverse("content:search")

    first = client.get(url, {"q": "walrus", "mode": "fulltext"})
    html = first.content.decode()
    assert first.context["page"].number == 1 and len(first.context["page"].object_list) == 20
    assert "Results 1–20 of 45 results" in html
    assert 'href="?q=walrus&amp;mode=fulltext&amp;page=2"' in html

    third = client.get(url, {"q": "walrus", "mode": "fulltext", "page": 3})
    assert len(third.context["page"].object_list) == 5
    assert "Results 41–45 of 45 results" in third.content.decode()
    # the pages partition one ranking: no hit twice, none missing
    pages = [client.get(url, {"q": "walrus", "mode": "fulltext", "page": n}).context["page"] for n in (1, 2, 3)]
    chunk_ids = [hit.chunk_id for page in pages for hit in page.object_list]
    assert len(chunk_ids) == len(set(chunk_ids)) == 45
    # a page past the end shows the last one
    assert client.get(url, {"q": "walrus", "mode": "fulltext", "page": 99}).context["page"].number == 3


def test_search_shows_relevance_as_a_meter_not_raw_scores_or_offsets(client, user, workspace):
    ingest(
        workspace.pk,
        IngestItem("o", "Octopus", "The octopus has three hearts."),
        IngestItem("s", "Squid", "A squid has three hearts too, and an octopus cousin."),
    )
    client.force_login(user)
    response = client.get(reverse("content:search"), {"q": "octopus hearts", "mode": "hybrid"})
    html = response.content.decode()
    hits = response.context["hits"]
    assert len(hits) == 2
    assert 'aria-label="relevance 100% of the best match"' in html
    assert f'aria-label="relevance {share_of(hits[1].score, hits[0].score)}% of the best match"' in html
    assert f"{hits[0].score:.4f}" not in html and "score " not in html
    assert "characters" not in html


def test_markdown_is_rendered_and_sanitised(client, user, workspace):
    text = (
        "# Field notes\n\n## Birds\n\n"
        "Some **bold** and a [link](https://example.org) and [bad](javascript:alert(1)).\n\n"
        "- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert('x')</script> <b>raw</b>\n"
    )
    ids = ingest(workspace.pk, IngestItem("n.md", "Field notes", text, content_type="text/markdown"))
    client.force_login(user)
    html = client.get(reverse("content:document-detail", args=[ids["n.md"]])).content.decode()
    prose = re.search(r'<div class="prose">(.*?)</div>', html, re.S).group(1)
    assert "<h2>Birds</h2>" in prose and "<strong>bold</strong>" in prose
    assert "Field notes" not in prose and html.count("<h1>Field notes</h1>") == 1  # the title, once
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">link</a>' in prose
    assert "<li>one</li>" in prose and "<td>1</td>" in prose
    assert 'href="javascript' not in prose  # never a link (it stays literal text)
    assert "<script>" not in html.split("</head>")[1] and "&lt;script&gt;" in prose  # raw HTML shown as text
    assert "<b>raw</b>" not in prose and "&lt;b&gt;raw&lt;/b&gt;" in prose


def test_plain_text_is_not_rendered_as_markdown(client, user, workspace):
    ids = ingest(workspace.pk, IngestItem("t.txt", "Plain", "# not a heading\n**not bold**"))
    client.force_login(user)
    html = client.get(reverse("content:document-detail", args=[ids["t.txt"]])).content.decode()
    assert '<pre class="plaintext"># not a heading\n**not bold**</pre>' in html


def test_huge_markdown_is_shown_as_plain_text():
    text = "# big\n" + "x" * MARKDOWN_MAX_CHARS
    assert str(markdown(text, workspace_id=1)).startswith('<pre class="plaintext"># big')
    assert str(markdown("a <i>b</i>", workspace_id=1)) == "<p>a &lt;i&gt;b&lt;/i&gt;</p>\n"


def test_the_markdown_cache_is_kept_per_workspace(client, user, other_user, workspace, other_workspace):
    """Two workspaces holding the same Markdown text never share its rendered HTML: B's page does
    not hit the entry A's page left (whose presence B could otherwise time)."""
    text = "# Same notes\n\nIdentical **text** in two workspaces.\n"
    mine = ingest(workspace.pk, IngestItem("n.md", "Same notes", text, content_type="text/markdown"))
    theirs = ingest(other_workspace.pk, IngestItem("n.md", "Same notes", text, content_type="text/markdown"))
    stored = selectors.document_with_context(workspace_id=workspace.pk, document_id=mine["n.md"])
    other = selectors.document_with_context(workspace_id=other_workspace.pk, document_id=theirs["n.md"])
    assert stored.text == other.text
    key_a = markdown_cache_key(stored.text, title=stored.title, workspace_id=workspace.pk)
    key_b = markdown_cache_key(stored.text, title=stored.title, workspace_id=other_workspace.pk)

    client.force_login(user)
    assert client.get(reverse("content:document-detail", args=[mine["n.md"]])).status_code == 200
    assert "<strong>text</strong>" in stores.cache().get(key_a)
    assert stores.cache().get(key_b) is None  # A's page filled A's entry only
    # mark A's entry: if B's page read it, B would show the mark
    stores.cache().set(key_a, "<p>CACHED-IN-A</p>")
    client.force_login(other_user)
    html = client.get(reverse("content:document-detail", args=[theirs["n.md"]])).content.decode()
    assert "CACHED-IN-A" not in html and "<strong>text</strong>" in html
    assert "<strong>text</strong>" in stores.cache().get(key_b)


@pytest.mark.parametrize("name", ["home", "content:document-list", "content:search"])
def test_every_page_has_one_navigation(client, user, workspace, name):
    client.force_login(user)
    html = client.get(reverse(name)).content.decode()
    assert html.count("<nav") == 1 and 'class="mainnav"' in html
    assert html.count(f'href="{reverse("content:search")}"') <= 2  # the nav (and the home's search form action)


def test_home_offers_search_and_upload(client, user, workspace):
    client.force_login(user)
    html = client.get(reverse("home")).content.decode()
    assert f'<form method="get" action="{reverse("content:search")}" role="search">' in html
    assert f'href="{reverse("content:document-list")}#upload"' in html
    assert 'id="upload"' in client.get(reverse("content:document-list")).content.decode()
