"""The analytics page: the workspace's agents only, bad parameters a 400, members only."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from agents.flywheel import metrics
from agents.flywheel.services import record_interaction
from tests.flywheel.helpers import days_ago, interaction

pytestmark = pytest.mark.django_db


def data_of(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="analytics-data" type="application/json">') + len(
        '<script id="analytics-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


@pytest.fixture
def metrics_of_two_workspaces(workspace, other_workspace):
    for n in range(3):
        record_interaction(
            interaction(workspace.id, agent_id=11, occurred_at=days_ago(n), latency_ms={"total": 10.0 * (n + 1)})
        )
    record_interaction(interaction(workspace.id, agent_id=12, occurred_at=days_ago(0)))
    record_interaction(interaction(other_workspace.id, agent_id=99, occurred_at=days_ago(0)))
    for n in range(3):
        metrics.aggregate_day(day=days_ago(n).date())


def test_page_charts_only_this_workspaces_agents(client, user, metrics_of_two_workspaces):
    client.force_login(user)
    response = client.get(reverse("agents:analytics"))
    assert response.status_code == 200
    data = data_of(response)
    assert set(data) == {"11", "12"}
    assert data["11"]["day"] == [days_ago(n).date().isoformat() for n in (2, 1, 0)]
    assert data["11"]["p50"] == [30.0, 20.0, 10.0]
    assert 'id="chart-rates-11"' in response.content.decode() and "chart-rates-99" not in response.content.decode()
    assert "vendor/plotly/plotly.min.js" in response.content.decode()
    one = data_of(client.get(reverse("agents:analytics"), {"agent": 12, "days": 1}))
    assert set(one) == {"12"}


def test_another_user_sees_only_their_workspace(client, other_user, metrics_of_two_workspaces):
    client.force_login(other_user)
    assert set(data_of(client.get(reverse("agents:analytics")))) == {"99"}


@pytest.mark.parametrize("query", [{"days": "0"}, {"days": "x"}, {"days": "100000"}, {"agent": "-1"}, {"agent": "1e9"}])
def test_bad_parameters_are_a_400(client, user, workspace, query):
    client.force_login(user)
    response = client.get(reverse("agents:analytics"), query)
    assert response.status_code == 400 and data_of(response) == {}


def test_anonymous_is_sent_to_log_in_and_no_workspace_gets_the_friendly_page(client, django_user_model):
    response = client.get(reverse("agents:analytics"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(django_user_model.objects.create_user(username="nomad", password="pw-nomad-123"))
    assert b"analytics-data" not in client.get(reverse("agents:analytics")).content


def test_plotly_is_served_from_the_installed_package(client):
    from django.contrib.staticfiles import finders

    found = finders.find("vendor/plotly/plotly.min.js")
    assert found and "site-packages" in found
