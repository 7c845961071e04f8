"""The Content-Security-Policy in Chromium: the pages the other browser tests do not open (the
Cypher console, the admin, the storage report, search's relevance meter, a throttled login) load
and work with no violation (``browser_page`` fails a test on any), and the policy is really
enforced: an inline script or style attribute written into a page does not run."""

from __future__ import annotations

import pytest
from django.urls import reverse

from content.services import IngestItem, document_ingest
from knowledge import stores
from tests.e2e.helpers import log_in
from tests.knowledge.graphs import build

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(django_user_model, workspace):
    from core import services

    root = django_user_model.objects.create_user(
        username="root", password="pw-root-123", is_staff=True, is_superuser=True
    )
    services.membership_add(workspace=workspace, user=root, role="owner", actor=root)
    return root


def test_console_admin_and_search_work_under_the_policy(live_server, user, workspace, staff, browser_page):
    page = browser_page
    report = document_ingest(
        workspace_id=workspace.pk,
        items=[
            IngestItem(
                "a.md", "Heron notes", "# Heron notes\n\nGrey herons stalk **fish**.", content_type="text/markdown"
            ),
            IngestItem("b", "Egrets", "Egrets stalk fish too, and herons watch."),
        ],
        embed=True,
    )
    assert not build(workspace.id).errors
    try:
        response = page.goto(f"{live_server.url}/accounts/login/")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        log_in(page, live_server.url, "root", "pw-root-123")

        # search: the relevance meter's bar (an SVG rect, no style attribute) has its width
        page.goto(f"{live_server.url}/content/search/?q=herons+fish&mode=fulltext")
        bars = page.locator(".relevance rect")
        assert bars.count() == 2
        widths = [
            page.evaluate("(el) => el.getBoundingClientRect().width", bars.nth(n).element_handle()) for n in (0, 1)
        ]
        assert widths[0] > widths[1] > 0

        # the document page's rendered Markdown
        page.goto(f"{live_server.url}{reverse('content:document-detail', args=[report.results[0].document_id])}")
        assert page.locator(".prose strong").inner_text() == "fish"

        # the Cypher console runs a query
        page.goto(f"{live_server.url}/knowledge/cypher/")
        page.fill("textarea[name=query]", "MATCH (a:Entity {name: $name})-[r]->(b) RETURN b ORDER BY b.key")
        page.fill("textarea[name=params]", '{"name": "App"}')
        page.click("button[type=submit].primary")
        page.locator("section[aria-label=Results]").wait_for()
        assert "2 rows" in page.locator("section[aria-label=Results]").inner_text()

        # the admin: index, a change list with its filters (the metadata filter's stylesheet), a
        # change form with its scripts, the documents' add form, the storage report
        for path in ("/admin/", "/admin/content/document/", "/admin/content/document/add/", "/storage/report/"):
            assert page.goto(f"{live_server.url}{path}").status == 200, path
        page.goto(f"{live_server.url}/admin/content/document/")
        metadata_input = page.locator(".metadata-filter input[type=text]")
        assert metadata_input.count() == 1
        box = page.evaluate(
            "(el) => [el.getBoundingClientRect().width, el.closest('form').getBoundingClientRect().width]",
            metadata_input.element_handle(),
        )
        assert box[0] > 0.8 * box[1] - 30  # "width: 100%" from the static stylesheet, not a style attribute
        page.fill(".metadata-filter input[type=text]", "nothing=here")
        page.click(".metadata-filter input[type=submit]")
        page.wait_for_load_state()
        assert "0 documents" in page.inner_text("#changelist") or "0 of" in page.inner_text("#changelist")
        page.goto(f"{live_server.url}/admin/core/workspace/{workspace.pk}/change/")
        page.locator("input[name=name]").wait_for()
    finally:
        stores.graph().cypher(
            "MATCH (n) WHERE n.workspace_id = $ws DETACH DELETE n RETURN count(*)", {"ws": workspace.id}, columns=("n",)
        )


def test_the_policy_blocks_inline_script_and_style(live_server, user, workspace, browser):
    from tests.e2e.helpers import watch_csp

    page = browser.new_page()
    violations = watch_csp(page)
    log_in(page, live_server.url)
    # what an injected fragment would do: an inline script and a style attribute
    page.evaluate(
        """() => {
            const box = document.createElement("div");
            box.innerHTML = '<p id="styled" style="color: rgb(255, 0, 0)">x</p>'
                + '<img src="x" onerror="window.__ran = 1">';
            document.body.append(box);
            const script = document.createElement("script");
            script.textContent = "window.__ran = 2";
            document.body.append(script);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.__ran") is None
    assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") != "rgb(255, 0, 0)"
    assert any("script-src" in v or "script" in v.lower() for v in violations)
    assert any("style" in v.lower() for v in violations)
    page.close()


def test_a_throttled_login_shows_its_message(live_server, user, browser_page):
    page = browser_page
    for _ in range(5):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        page.wait_for_load_state()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-alice-123")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 429
    assert "Too many failed logins" in page.inner_text("body")
    assert page.url.endswith("/accounts/login/")
