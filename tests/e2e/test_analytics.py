"""The agents analytics page in Chromium: plotly.js (from the PyPI package) draws each agent's
charts as SVG; another workspace's agent is not drawn."""

from __future__ import annotations

import pytest

from agents.flywheel import metrics
from agents.flywheel.models import AgentDailyMetric, Feedback, InteractionEvent
from agents.flywheel.services import record_interaction
from tests.e2e.helpers import log_in
from tests.flywheel.helpers import days_ago, interaction


@pytest.mark.django_db(transaction=True)
def test_analytics_page_draws_charts(live_server, user, workspace, other_workspace, browser_page):
    page = browser_page
    try:
        for n in range(4):
            record_interaction(interaction(workspace.id, agent_id=21, occurred_at=days_ago(n)))
        record_interaction(interaction(other_workspace.id, agent_id=22, occurred_at=days_ago(0)))
        for n in range(4):
            metrics.aggregate_day(day=days_ago(n).date())
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/agents/analytics/")
        for kind, traces in (("rates", "3"), ("latency", "2"), ("volume", "2")):
            # a locator, not wait_for_function (whose polling uses eval(), refused by the CSP)
            page.locator(f"#chart-{kind}-21[data-rendered='{traces}']").wait_for(state="attached", timeout=20000)
        assert page.evaluate("typeof Plotly") == "object"
        # pictures: plotly's SVG with one line per trace, the latency points at the measured 15 ms
        assert page.locator("#chart-latency-21 svg.main-svg").count() >= 1
        assert page.locator("#chart-rates-21 .scatterlayer .trace").count() == 3
        assert page.evaluate("document.getElementById('chart-latency-21').data[0].y") == [15, 15, 15, 15]
        assert page.locator("#chart-rates-22").count() == 0
    finally:
        # transactional test: the unmanaged, partitioned events table is not flushed by Django
        InteractionEvent.objects.filter(workspace_id__in=[workspace.id, other_workspace.id]).delete()
        Feedback.objects.all().delete()
        AgentDailyMetric.objects.all().delete()
