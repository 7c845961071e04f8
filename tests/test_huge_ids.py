"""Object ids beyond PostgreSQL's bigint in every URL that takes one: a 404 (or the admin's
"does not exist" redirect), never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db
HUGE = 10**30


@pytest.mark.parametrize(
    "name,method",
    [
        ("content:document-detail", "get"),
        ("knowledge:entity-detail", "get"),
        ("agents:chat", "get"),
        ("agents:chat-send", "post"),
        ("agents:event-feedback", "post"),
    ],
)
@pytest.mark.parametrize("value", [HUGE, 2**63, 0])
def test_page_ids_out_of_range_are_404(client, user, workspace, name, method, value):
    client.force_login(user)
    client.raise_request_exception = False
    answer = getattr(client, method)(reverse(name, args=[value]), {"text": "hi", "thumbs": "up"})
    assert answer.status_code == 404, answer.content[:300]


@pytest.mark.parametrize("query", [f"?ids={HUGE}", f"?ids=-{HUGE}", f"?c={HUGE}"])
def test_query_ids_out_of_range_are_not_a_500(client, user, workspace, query):
    from agents import services as agents

    agent = agents.agent_create(workspace_id=workspace.id, config=agents.AgentConfig(name="A"), user_id=user.pk)
    client.force_login(user)
    client.raise_request_exception = False
    url = reverse("agents:chat", args=[agent.pk]) if query.startswith("?c") else reverse("content:document-statuses")
    assert client.get(url + query).status_code in (200, 400, 404)


def test_admin_ids_out_of_range(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    client.raise_request_exception = False
    for model in ("content/document", "knowledge/entity", "agents/conversation", "core/workspace", "auth/user"):
        assert client.get(f"/admin/{model}/{HUGE}/change/").status_code in (302, 404), model


@pytest.mark.parametrize("digits", ["²", "١٢", "𝟗"])
def test_non_ascii_digits_are_a_4xx(client, user, workspace, digits):
    # str.isdigit() says yes to "²", "١٢" and "𝟗", and int() refuses "²"
    from agents import services as agents

    agent = agents.agent_create(workspace_id=workspace.id, config=agents.AgentConfig(name="A"), user_id=user.pk)
    client.force_login(user)
    client.raise_request_exception = False
    assert client.get(reverse("agents:chat", args=[agent.pk]), {"c": digits}).status_code in (400, 404)
    graph = client.get(reverse("knowledge:graph-json"), {"key": f"doc:{digits}"})
    assert graph.status_code in (400, 404)


@pytest.mark.parametrize("page", ["²", str(HUGE), "-1", "1e3", "0x10", " 2", "NaN"])
def test_odd_page_numbers_never_500(client, user, workspace, page):
    client.force_login(user)
    client.raise_request_exception = False
    for name in ("content:document-list", "knowledge:entity-list"):
        assert client.get(reverse(name), {"page": page}).status_code in (200, 400, 404), name
    assert client.get(reverse("content:search"), {"q": "x", "page": page}).status_code in (200, 400, 404)
    assert client.get(reverse("agents:analytics"), {"days": page}).status_code in (200, 400)


@pytest.mark.parametrize("q", ["abc", str(HUGE), "-1", "²", "1.5"])
def test_admin_searches_on_number_columns_never_500(client, django_user_model, q):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    client.raise_request_exception = False
    for model in ("agents/interactionevent", "agents/feedback", "knowledge/extractionrun", "core/auditentry"):
        assert client.get(f"/admin/{model}/", {"q": q}).status_code == 200, model
