"""The content pages: document list + upload, search, the document page."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from content import stores
from content.embeddings import get_embedder
from content.models import Chunk, Document, WorkspaceEmbedding
from content.services import IngestItem
from core import services as core_services
from core.models import Membership
from tests.content.helpers import ingest

pytestmark = pytest.mark.django_db


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def docs(workspace, other_workspace) -> dict[str, int]:
    ids = ingest(
        workspace.pk,
        IngestItem(
            "mantis",
            "Mantis shrimp <eyes>",
            "The mantis shrimp has sixteen photoreceptors. Its punch is <strong>fast</strong> & deadly.",
            metadata={"lang": "en", "habitat": "reef", "note": "<script>alert(1)</script>"},
        ),
        IngestItem(
            "octopus",
            "Octopus",
            "The octopus has three hearts and blue blood. It lives on the reef and hunts shrimp.",
            metadata={"lang": "en", "habitat": "reef"},
        ),
        IngestItem("krill", "Krill", "Antarctic krill swarm in cold water.", metadata={"lang": "de"}),
    )
    ids |= {
        f"other:{k}": v
        for k, v in ingest(
            other_workspace.pk,
            IngestItem("secret", "Bob's secret shrimp", "Secret mantis shrimp recipe of Bob.", metadata={"lang": "en"}),
        ).items()
    }
    return ids


def docs_workspace(docs: dict[str, int]) -> int:
    return Document.objects.get(pk=docs["mantis"]).workspace_id


@pytest.mark.parametrize(
    "url",
    [
        reverse("content:document-list"),
        reverse("content:search") + "?q=shrimp",
        reverse("content:document-detail", args=[1]),
    ],
)
def test_every_page_requires_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    assert client.post(reverse("content:document-list")).status_code == 302


def test_a_user_without_a_workspace_gets_a_friendly_page(client, django_user_model):
    loner = django_user_model.objects.create_user(username="loner", password="pw-loner-123")
    client.force_login(loner)
    for url in [reverse("content:document-list"), reverse("content:search") + "?q=x"]:
        response = client.get(url)
        assert response.status_code == 200
        assert "No workspace yet" in response.content.decode()
    assert client.get(reverse("content:document-detail", args=[1])).status_code == 200


def test_document_list_shows_only_the_workspaces_documents(client, user, docs):
    client.force_login(user)
    html = client.get(reverse("content:document-list")).content.decode()
    assert "Mantis shrimp &lt;eyes&gt;" in html and "Octopus" in html and "Krill" in html
    assert "<eyes>" not in html
    assert "Bob&#x27;s secret shrimp" not in html and "Bob's secret" not in html

    filtered = client.get(reverse("content:document-list"), {"q": "octo", "status": "ready"}).content.decode()
    assert "Octopus" in filtered and "Krill" not in filtered
    assert "Octopus" not in client.get(reverse("content:document-list"), {"status": "pending"}).content.decode()


def test_document_page_shows_document_metadata_chunks_and_similar_documents(client, user, docs):
    client.force_login(user)
    response = client.get(reverse("content:document-detail", args=[docs["mantis"]]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Mantis shrimp &lt;eyes&gt;</h1>" in html
    assert "sixteen photoreceptors" in html
    assert "&lt;strong&gt;fast&lt;/strong&gt; &amp; deadly" in html  # text escaped
    assert "&quot;habitat&quot;: &quot;reef&quot;" in html  # metadata as escaped JSON
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert f'id="chunk-{Chunk.objects.filter(document_id=docs["mantis"]).first().pk}"' in html
    assert "Bob" not in html
    assert "No related nodes." in html
    # similar documents: above the model's relevance floor only, never Bob's
    ctx = response.context["ctx"]
    scores = {s.document_id: s.score for s in ctx.similar}
    floor = get_embedder("hashing").relevance_floor
    assert all(score >= floor for score in scores.values()) and docs["krill"] not in scores
    with override_settings(STRATA_RELEVANCE_FLOORS={"hashing-1536-v2": 0.0}):  # part of the page's cache key
        response = client.get(reverse("content:document-detail", args=[docs["mantis"]]))
    ctx, html = response.context["ctx"], response.content.decode()
    assert ctx.similar[0].document_id == docs["octopus"]  # shares "shrimp", "reef", "the ... has"
    assert reverse("content:document-detail", args=[docs["octopus"]]) in html
    assert f">{round(ctx.similar[0].score * 100)}%</td>" in html  # a similarity people read, not 0.123
    assert f"{ctx.similar[0].score:.3f}" not in html
    # the text comes before the similar documents and the graph
    assert html.index("sixteen photoreceptors") < html.index("<h2>Similar documents</h2>")
    assert html.index("sixteen photoreceptors") < html.index("<h2>Related in the knowledge graph</h2>")
    assert "Bob" not in html
    assert "No related nodes." in html


def test_a_user_cannot_open_another_workspaces_document(client, user, other_user, docs):
    client.force_login(user)
    assert client.get(reverse("content:document-detail", args=[docs["other:secret"]])).status_code == 404
    assert client.get(reverse("content:document-detail", args=[10**12])).status_code == 404
    client.force_login(other_user)
    assert client.get(reverse("content:document-detail", args=[docs["other:secret"]])).status_code == 200
    assert client.get(reverse("content:document-detail", args=[docs["mantis"]])).status_code == 404


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "fulltext"])
def test_search_page_renders_highlighted_escaped_passages_of_the_workspace_only(client, user, docs, mode):
    client.force_login(user)
    response = client.get(reverse("content:search"), {"q": "mantis shrimp punch", "mode": mode})
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("content:document-detail", args=[docs["mantis"]]) in html
    assert "<mark>" in html  # matched words are highlighted ...
    assert "<strong>" not in html and "&amp; deadly" in html  # ... and the document's own markup is not
    assert "Bob" not in html
    assert reverse("content:document-detail", args=[docs["other:secret"]]) not in html
    # the second request is served from the Redis cache and renders the same markup
    again = client.get(reverse("content:search"), {"q": "mantis shrimp punch", "mode": mode}).content.decode()
    assert again.count("<mark>") == html.count("<mark>") > 0


def test_search_page_applies_metadata_filters(client, user, docs):
    client.force_login(user)
    url = reverse("content:search")
    kv = client.get(url, {"q": "shrimp reef krill", "mode": "semantic", "filters": "lang=de"})
    assert [h.document_id for h in kv.context["hits"]] == [docs["krill"]]
    as_json = client.get(url, {"q": "shrimp", "mode": "fulltext", "filters": '{"habitat": "reef"}'})
    assert {h.document_id for h in as_json.context["hits"]} == {docs["mantis"], docs["octopus"]}


def test_search_page_shows_a_form_error_for_invalid_json(client, user, docs):
    client.force_login(user)
    response = client.get(reverse("content:search"), {"q": "shrimp", "filters": '{"lang": "en"'})
    assert response.status_code == 200
    assert response.context["hits"] is None
    assert "Invalid JSON" in response.content.decode()
    bad_pair = client.get(reverse("content:search"), {"q": "shrimp", "filters": "just words"})
    assert "key=value" in bad_pair.content.decode() and bad_pair.context["hits"] is None
    null = client.get(reverse("content:search"), {"q": "shrimp", "filters": '{"lang": null}'})
    assert null.status_code == 200 and null.context["hits"] is None
    assert "null is not a filter value" in null.content.decode()


def test_search_page_explains_a_provider_this_process_cannot_load(client, user, workspace, docs):
    client.force_login(user)
    WorkspaceEmbedding.objects.filter(workspace_id=workspace.pk).update(provider="openai", model="their-model")
    with override_settings(STRATA_OPENAI_BASE_URL="not-a-url"):
        response = client.get(reverse("content:search"), {"q": "shrimp", "mode": "semantic"})
    assert response.status_code == 200
    assert f"./strata manage reembed --workspace {workspace.slug} --provider hashing`" in response.content.decode()
    assert response.context["hits"] is None


def test_search_page_says_nothing_matched_for_nonsense(client, user, docs):
    client.force_login(user)
    for mode in ("hybrid", "semantic", "fulltext"):
        response = client.get(reverse("content:search"), {"q": "xqzvw blorptang", "mode": mode})
        assert response.status_code == 200
        assert response.context["hits"] == []
        assert "Nothing matched" in response.content.decode()


def test_upload_works_end_to_end_with_csrf(user, workspace):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(reverse("content:document-list"))
    token = _csrf_token(page.content.decode())

    def files():
        return [
            SimpleUploadedFile("notes.txt", b"Axolotls regrow their limbs.", content_type="text/plain"),
            SimpleUploadedFile(
                "batch.jsonl",
                b'{"external_id": "j1", "title": "Jellyfish", "text": "Jellyfish have no brain.", '
                b'"metadata": {"lang": "en"}}\n'
                b"{not json}\n"
                b'{"external_id": "j3", "title": "No text"}\n',
                content_type="application/json",
            ),
        ]

    refused = client.post(reverse("content:document-list"), {"files": files(), "embed": "on"})
    assert refused.status_code == 403
    assert not Document.objects.filter(workspace=workspace).exists()

    response = client.post(
        reverse("content:document-list"), {"files": files(), "embed": "on", "csrfmiddlewaretoken": token}
    )
    # post/redirect/get: the upload answers with a redirect, so a refresh cannot send it again
    assert response.status_code == 302 and response["Location"] == reverse("content:document-list")
    documents = {d.external_id: d for d in Document.objects.filter(workspace=workspace)}
    assert set(documents) == {"notes.txt", "j1"}
    assert documents["j1"].status == Document.Status.READY
    body = stores.documents().get(stores.DOCUMENTS_COLLECTION, str(documents["j1"].pk))
    assert body == {
        "workspace_id": workspace.id,
        "title": "Jellyfish",
        "text": "Jellyfish have no brain.",
        "metadata": {"lang": "en"},
    }
    page = client.get(response["Location"])
    html = page.content.decode()
    shown = [str(m) for m in page.context["messages"]]
    assert shown[0] == "2 files uploaded: 2 added, 0 updated, 0 unchanged, 2 failed."
    assert shown[1].startswith("batch.jsonl:2: invalid JSON")  # per-item errors, with lines
    assert shown[2] == 'batch.jsonl:3: missing "text"'
    assert "missing &quot;text&quot;" in html
    assert reverse("content:document-detail", args=[documents["j1"].pk]) in html  # in the list
    # the messages are shown once
    assert not list(client.get(response["Location"]).context["messages"])

    # and the new documents are searchable right away
    search = client.get(reverse("content:search"), {"q": "axolotls", "mode": "fulltext"})
    assert [h.document_id for h in search.context["hits"]] == [documents["notes.txt"].pk]


def test_upload_refuses_files_over_the_size_limit(client, user, workspace):
    client.force_login(user)
    with override_settings(STRATA_MAX_UPLOAD_BYTES=16):
        response = client.post(
            reverse("content:document-list"),
            {"files": [SimpleUploadedFile("big.txt", b"x" * 17), SimpleUploadedFile("ok.txt", b"small")]},
        )
    assert response.status_code == 400
    assert "big.txt" in response.content.decode() and "limit" in response.content.decode()
    assert not Document.objects.filter(workspace=workspace).exists()


def test_an_upload_without_files_says_so(client, user, workspace):
    client.force_login(user)
    response = client.post(reverse("content:document-list"), {"embed": "on"})
    assert response.status_code == 400
    assert "Choose at least one file to upload." in response.content.decode()
    assert not Document.objects.filter(workspace=workspace).exists()


def test_upload_reports_unsupported_files(client, user, workspace):
    client.force_login(user)
    response = client.post(
        reverse("content:document-list"), {"files": [SimpleUploadedFile("image.png", b"\x89PNG\r\n")]}, follow=True
    )
    assert response.redirect_chain == [(reverse("content:document-list"), 302)]
    shown = [str(m) for m in response.context["messages"]]
    assert shown[0] == "Nothing was added. 1 file uploaded: 0 added, 0 updated, 0 unchanged, 1 failed."
    assert shown[1].startswith("image.png: unsupported file type .png and not text (not valid UTF-8 (byte 0))")
    assert not Document.objects.filter(workspace=workspace).exists()


def test_upload_takes_an_extensionless_text_file_as_plain_text(client, user, workspace):
    client.force_login(user)
    files = [SimpleUploadedFile("README", b"Read me first."), SimpleUploadedFile("core", b"\x7fELF\x00\x01")]
    response = client.post(reverse("content:document-list"), {"files": files}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert shown[0] == "2 files uploaded: 1 added, 0 updated, 0 unchanged, 1 failed."
    assert shown[1].startswith("core: no file extension and not text (binary file (contains NUL bytes))")
    document = Document.objects.get(workspace=workspace)
    assert (document.external_id, document.title, document.content_type) == ("README", "README", "text/plain")


def test_an_empty_file_among_good_ones_is_one_failed_item(client, user, workspace):
    """Django's FileField refused the whole upload ("The submitted file is empty.", naming no file)
    when one of the files was empty; the command line reports it as one failed item, and so does
    the upload now."""
    client.force_login(user)
    files = [SimpleUploadedFile("good.txt", b"Barn owls hunt voles."), SimpleUploadedFile("empty.txt", b"")]
    response = client.post(reverse("content:document-list"), {"files": files}, follow=True)
    assert response.redirect_chain == [(reverse("content:document-list"), 302)]
    shown = [str(m) for m in response.context["messages"]]
    assert shown == [
        "2 files uploaded: 1 added, 0 updated, 0 unchanged, 1 failed.",
        "empty.txt: text is missing or empty",
    ]
    assert list(Document.objects.filter(workspace=workspace).values_list("external_id", flat=True)) == ["good.txt"]


def test_a_viewer_cannot_upload(client, user, other_user, workspace):
    core_services.membership_add(workspace=workspace, user=other_user, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    client.post(reverse("workspace-switch"), {"workspace": workspace.pk})
    page = client.get(reverse("content:document-list"))
    assert page.status_code == 200 and 'enctype="multipart/form-data"' not in page.content.decode()
    response = client.post(reverse("content:document-list"), {"files": [SimpleUploadedFile("a.txt", b"hello")]})
    assert response.status_code == 403
    assert not Document.objects.filter(workspace=workspace).exists()


def test_home_page_summarises_the_workspaces_content(client, user, docs):
    client.force_login(user)
    html = client.get(reverse("home")).content.decode()
    assert "<h2>Content</h2>" in html
    assert "<dt>Documents</dt><dd>3</dd>" in html  # Alice's three, not Bob's
    assert "<dt>Embedding model</dt><dd>hashing-1536-v2</dd>" in html
