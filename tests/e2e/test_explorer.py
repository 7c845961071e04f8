"""The graph explorer in Chromium: vis-network draws the neighbourhood, a click expands a node,
a double click opens the entity page; another workspace's nodes never appear."""

from __future__ import annotations

import pytest

from knowledge import stores
from tests.e2e.helpers import log_in
from tests.knowledge.graphs import build


@pytest.mark.django_db(transaction=True)
def test_explorer_draws_expands_and_opens(live_server, user, workspace, other_workspace, browser_page):
    assert not build(workspace.id).errors
    assert not build(other_workspace.id, edges=[("app", "evil"), ("web", "evil")]).errors
    page = browser_page
    try:
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/knowledge/explore/?key=app&depth=1")
        page.locator("#graph[data-nodes='3']").wait_for(state="attached", timeout=15000)  # (CSP: no eval)
        assert page.evaluate("typeof vis") == "object"  # the library loaded from the static files
        ids = page.evaluate("document.getElementById('graph').network.body.data.nodes.getIds()")
        assert sorted(ids) == ["app", "db", "web"]
        # click "web": its neighbours join the picture
        page.wait_for_timeout(500)
        x, y = page.evaluate(
            """() => { const n = document.getElementById('graph').network;
                       n.stopSimulation(); n.setOptions({physics: false});  // nodes stay where clicked
                       const p = n.getPositions(['web']).web; const d = n.canvasToDOM(p);
                       const r = document.getElementById('graph').getBoundingClientRect();
                       return [r.left + d.x, r.top + d.y]; }"""
        )
        page.mouse.click(x, y)
        page.locator("#graph[data-nodes='4']").wait_for(state="attached", timeout=15000)
        ids = page.evaluate("document.getElementById('graph').network.body.data.nodes.getIds()")
        assert "http" in ids and "evil" not in ids
        # double click "web": its entity page
        x, y = page.evaluate(
            """() => { const n = document.getElementById('graph').network;
                       n.stopSimulation(); n.setOptions({physics: false});  // nodes stay where clicked
                       const p = n.getPositions(['web']).web; const d = n.canvasToDOM(p);
                       const r = document.getElementById('graph').getBoundingClientRect();
                       return [r.left + d.x, r.top + d.y]; }"""
        )
        page.mouse.dblclick(x, y)
        page.wait_for_url("**/knowledge/entities/*/", timeout=15000)
        assert page.locator("h1").inner_text().startswith("Web")
        # a label filter, and a node of another workspace is "not found"
        page.goto(f"{live_server.url}/knowledge/explore/?key=evil")
        page.locator("#graph-status", has_text="no such node").wait_for(timeout=15000)
    finally:
        age = stores.graph()
        for ws in (workspace.id, other_workspace.id):
            age.cypher(
                "MATCH (n) WHERE n.workspace_id = $ws DETACH DELETE n RETURN count(*)", {"ws": ws}, columns=("n",)
            )


@pytest.mark.django_db(transaction=True)
def test_knowledge_pages_fit_a_phone(live_server, user, workspace, browser):
    from knowledge.models import Entity
    from tests.e2e.helpers import horizontal_overflow, watch_csp

    long = "averyveryverylongpackagename" * 6
    assert not build(workspace.id, edges=[("app", long), (long, "db")]).errors
    entity = Entity.objects.get(workspace=workspace, key=long)
    user.is_staff = True
    user.save()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    violations = watch_csp(page)  # and no page breaks the Content-Security-Policy
    try:
        log_in(page, live_server.url)
        for path in (
            "/knowledge/",
            f"/knowledge/entities/{entity.pk}/",
            "/knowledge/explore/?key=app",
            "/knowledge/cypher/",
            "/content/search/?q=app&mode=graph",
        ):
            page.goto(f"{live_server.url}{path}")
            assert horizontal_overflow(page) == 0, f"{path} scrolls sideways at 390 px"
        assert not violations, f"Content-Security-Policy violations: {violations}"
    finally:
        stores.graph().cypher(
            "MATCH (n) WHERE n.workspace_id = $ws DETACH DELETE n RETURN count(*)", {"ws": workspace.id}, columns=("n",)
        )
