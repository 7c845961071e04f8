"""A person's path through the site in a real browser (Debian's Chromium driven by Playwright):
log in, upload a file through the form, find it with the search page, open the document page."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import log_in


@pytest.mark.django_db(transaction=True)
def test_upload_search_and_read_a_document_in_the_browser(live_server, user, workspace, tmp_path, browser_page):
    page = browser_page
    log_in(page, live_server.url)
    assert "Alice&#x27;s lab" in page.content() or "Alice's lab" in page.inner_text("body")

    note = tmp_path / "octopus.md"
    note.write_text("# Octopus notes\n\nAn octopus has three hearts and <b>blue</b> blood.\n")
    page.goto(f"{live_server.url}/content/")
    page.set_input_files("input[type=file]", str(note))
    page.check("input[name=embed]")
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_load_state()
    assert "added" in page.inner_text("body").lower()

    page.goto(f"{live_server.url}/content/search/?q=three+hearts&mode=hybrid")
    marks = page.locator("mark").all_inner_texts()
    assert [m.lower() for m in marks][:2] == ["three", "hearts"]
    assert page.locator("b").count() == 0  # the document's HTML is shown as text, never rendered

    page.click("text=Octopus notes")
    page.wait_for_load_state()
    body = page.inner_text("body")
    assert "Octopus notes" in body and "hashing-1536-v2" in body and "<b>blue</b>" in body
