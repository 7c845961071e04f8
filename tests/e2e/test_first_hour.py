"""A new user's first hour in a real browser (Chromium): the upload with its redirect and the
status that updates in place, the empty upload, pagination, the 404 page, and every page at
390 px (a phone) without sideways scrolling."""

from __future__ import annotations

import pytest
from django.urls import reverse

from content.models import Document
from content.services import IngestItem, document_ingest
from core import outbox
from core.models import AuditEntry
from tests.e2e.helpers import horizontal_overflow, log_in, watch_csp

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_redirects_and_the_status_updates_in_place(live_server, user, workspace, tmp_path, browser_page):
    page = browser_page
    log_in(page, live_server.url)
    note = tmp_path / "heron.md"
    note.write_text("# Heron notes\n\nGrey herons stalk fish in **shallow** water.\n")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)

    page.goto(f"{live_server.url}/content/")
    page.set_input_files("input[type=file]", str(note))
    page.click("#upload button[type=submit]")  # "Embed now" unchecked: the worker embeds later
    page.wait_for_load_state()

    # post/redirect/get: we are on the list again (a GET), with the outcome as a message
    assert page.url == f"{live_server.url}/content/"
    assert page.locator(".messages li.success").inner_text() == (
        "1 file uploaded: 1 added, 0 updated, 0 unchanged, 0 failed."
    )
    row = page.locator("tr", has_text="Heron notes")
    assert row.locator("[data-field=status_label]").inner_text() == "Waiting for embedding"
    assert posts == [f"{live_server.url}/content/"]

    # the page stays; the worker's part (the outbox relay) embeds the document meanwhile
    page.evaluate("window.__sameDocument = true")
    result = outbox.relay()
    assert result.delivered == 1
    row.locator("[data-field=status_label]", has_text="Ready").wait_for(timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    assert row.locator("[data-field=embedding_model]").inner_text() == "hashing-1536-v2"
    assert "status-ready" in row.locator("[data-field=status_label]").get_attribute("class")

    # a refresh is a GET: nothing is uploaded twice, and the message was shown once
    page.reload()
    assert posts == [f"{live_server.url}/content/"]
    assert page.locator(".messages").count() == 0
    assert AuditEntry.objects.filter(action="content.documents.ingest").count() == 1


def test_the_document_page_refreshes_its_status_too(live_server, user, workspace, browser_page):
    report = document_ingest(workspace_id=workspace.pk, items=[IngestItem("k", "Kestrel", "Kestrels hover.")])
    doc_id = report.results[0].document_id
    page = browser_page
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}{reverse('content:document-detail', args=[doc_id])}")
    assert page.locator(".facts [data-field=status_label]").inner_text() == "Waiting for embedding"
    assert not page.locator("[data-when-embedded]").is_visible()

    outbox.relay()

    page.locator(".facts [data-field=status_label]", has_text="Ready").wait_for(timeout=20_000)
    assert page.locator("[data-when-embedded]").is_visible()  # "Embedded: reload to see similar documents"
    page.click("[data-when-embedded] a")
    page.wait_for_load_state()
    assert page.locator(".facts [data-field=status_label]").inner_text() == "Ready"  # the cached page was dropped


def test_an_empty_upload_is_stopped_with_a_message(live_server, user, workspace, browser_page):
    page = browser_page
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/content/")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)

    # the browser's own check stops it first, with its message
    page.click("#upload button[type=submit]")
    assert posts == []
    assert page.eval_on_selector("input[type=file]", "input => input.validationMessage")

    # a browser that skips that check (or a script) gets the server's answer
    page.eval_on_selector("#upload form", "form => { form.noValidate = true; }")
    with page.expect_response(f"{live_server.url}/content/") as answer:
        page.click("#upload button[type=submit]")
    assert answer.value.status == 400
    page.wait_for_load_state()
    assert page.locator("#upload .errors").inner_text() == "Choose at least one file to upload."
    assert not Document.objects.exists()


def test_search_results_are_paginated(live_server, user, workspace, browser_page):
    document_ingest(
        workspace_id=workspace.pk,
        items=[IngestItem(f"w{i}", f"Walrus {i}", f"Walrus number {i} basks on the ice.") for i in range(45)],
        embed=True,
    )
    page = browser_page
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/content/search/?q=walrus&mode=fulltext")
    assert page.locator("h2", has_text="Results 1–20 of 45 results").count() == 1
    first = page.locator(".hit h3").all_inner_texts()
    assert len(first) == 20

    page.click("text=Next ›")
    page.wait_for_load_state()
    assert "page=2" in page.url and "q=walrus" in page.url and "mode=fulltext" in page.url
    second = page.locator(".hit h3").all_inner_texts()
    assert len(second) == 20 and not set(first) & set(second)
    assert page.input_value("input[name=q]") == "walrus"  # the query stays in the form

    page.click("text=Last »")
    page.wait_for_load_state()
    last = page.locator(".hit h3").all_inner_texts()
    assert len(last) == 5 and "Page 3 of 3" in page.inner_text(".pagination")
    assert len(set(first) | set(second) | set(last)) == 45


def test_the_404_page(live_server, user, workspace, browser_page):
    page = browser_page
    response = page.goto(f"{live_server.url}/content/documents/999999/")
    assert response.status == 302 or page.url.startswith(f"{live_server.url}/accounts/login/")
    log_in(page, live_server.url)
    response = page.goto(f"{live_server.url}/content/documents/999999/")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.locator(".mainnav").count() == 1  # the site's layout, not Django's bare page
    page.click("text=Go to the home page")
    page.wait_for_url(f"{live_server.url}/")


LONG = "a-very-long-identifier-without-any-space-" * 4


def test_no_page_scrolls_sideways_at_390_px(live_server, user, workspace, django_user_model, browser):
    user.is_staff = user.is_superuser = True  # the admin pages too
    user.save()
    items = [
        IngestItem(
            f"{LONG}{i}",
            f"{LONG} title {i}",
            f"# Heading\n\nA paragraph with a {LONG} word and `code`.\n\n```\n{LONG * 3}\n```\n\n"
            f"| column | another column | a third column | {LONG} |\n|---|---|---|---|\n| 1 | 2 | 3 | 4 |\n",
            content_type="text/markdown",
            metadata={"source_url": f"https://example.org/{LONG}", "tags": ["x"] * 30},
        )
        for i in range(3)
    ]
    report = document_ingest(workspace_id=workspace.pk, items=items, embed=True)
    doc_id = report.results[0].document_id
    django_user_model.objects.create_user(username="nowhere", password="pw-nowhere-123")  # no workspace

    page = browser.new_page(viewport={"width": 390, "height": 844})
    violations = watch_csp(page)  # and no page breaks the Content-Security-Policy
    page.goto(f"{live_server.url}/accounts/login/")
    assert horizontal_overflow(page) == 0, "login"
    # the login button sits below the password field, not beside it
    password = page.locator("input[name=password]").bounding_box()
    button = page.locator("button[type=submit]").bounding_box()
    assert button["y"] >= password["y"] + password["height"]
    log_in(page, live_server.url)

    pages = {
        "home": "/",
        "documents": "/content/",
        "documents filtered": "/content/?q=nothing-matches",
        "search form": "/content/search/",
        "search results": "/content/search/?q=paragraph+heading&mode=hybrid",
        "search error": "/content/search/?q=x&filters=%7Bbad",
        "document": f"/content/documents/{doc_id}/",
        "404": "/content/documents/999999/",
        "admin": "/admin/",
        "admin documents": "/admin/content/document/",
        "admin document": f"/admin/content/document/{doc_id}/change/",
    }
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        assert horizontal_overflow(page) == 0, f"{name} ({path}) scrolls sideways at 390 px"
    # the chunks, opened
    page.goto(f"{live_server.url}/content/documents/{doc_id}/")
    page.click("#chunks summary")
    assert horizontal_overflow(page) == 0, "document with its chunks open"

    other = browser.new_page(viewport={"width": 390, "height": 844})
    log_in(other, live_server.url, "nowhere", "pw-nowhere-123")
    for path in ("/", "/content/"):
        other.goto(f"{live_server.url}{path}")
        assert horizontal_overflow(other) == 0, f"no-workspace page {path}"
    assert not violations, f"Content-Security-Policy violations: {violations}"
