"""The agents pages: the agent list (editors add agents), the chat page and its streamed
answer; each scoped to the user's workspace and own conversations; CSRF on; bad input a 4xx."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from agents import selectors
from agents.models import Agent, Conversation
from core import services as core_services
from core.models import Membership
from tests.agents.helpers import ingest_corpus

pytestmark = pytest.mark.django_db
NDJSON = "application/x-ndjson"


def stream(client, agent, text, conversation=""):
    response = client.post(
        reverse("agents:chat-send", args=[agent.pk]),
        {"text": text, "conversation": conversation},
        HTTP_ACCEPT=NDJSON,
    )
    assert response.status_code == 200 and response["Content-Type"] == NDJSON and response.streaming
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def test_chat_streams_and_the_page_shows_the_conversation(client, user, workspace, agent):
    docs = ingest_corpus(workspace.id)
    client.force_login(user)
    assert agent.name in client.get(reverse("agents:agent-list")).content.decode()
    events = stream(client, agent, "Who discovered the first pulsar?")
    assert [e["type"] for e in events][:2] == ["start", "sources"] and events[-1]["type"] == "done"
    assert any(e["type"] == "delta" for e in events)
    conversation_id = events[0]["conversation_id"]
    page = client.get(reverse("agents:chat", args=[agent.pk]), {"c": conversation_id})
    body = page.content.decode()
    assert page.status_code == 200
    assert "Jocelyn Bell Burnell discovered the first pulsar in 1967." in body
    assert reverse("content:document-detail", args=[docs["pulsars"]]) in body  # the citation links to it
    # without JavaScript: the form posts, the page reloads with the answer
    response = client.post(
        reverse("agents:chat-send", args=[agent.pk]), {"text": "sourdough starter", "conversation": conversation_id}
    )
    assert response.status_code == 302 and response["Location"].endswith(f"?c={conversation_id}")
    roles = [
        m["role"] for m in selectors.conversation_messages(workspace_id=workspace.id, conversation_id=conversation_id)
    ]
    assert roles == ["user", "assistant", "user", "assistant"]


def test_chat_is_workspace_and_user_scoped(client, user, other_user, workspace, other_workspace, agent, other_agent):
    client.force_login(user)
    assert client.get(reverse("agents:chat", args=[other_agent.pk])).status_code == 404
    assert client.post(reverse("agents:chat-send", args=[other_agent.pk]), {"text": "hi"}).status_code == 404
    theirs = Conversation.objects.create(workspace=other_workspace, agent=other_agent, user=other_user)
    assert client.get(reverse("agents:chat", args=[other_agent.pk]), {"c": theirs.pk}).status_code == 404
    # a colleague's conversation in the same workspace is not mine either
    core_services.membership_add(workspace=workspace, user=other_user, role=Membership.Role.VIEWER)
    colleague = Conversation.objects.create(workspace=workspace, agent=agent, user=other_user)
    assert client.get(reverse("agents:chat", args=[agent.pk]), {"c": colleague.pk}).status_code == 404
    response = client.post(
        reverse("agents:chat-send", args=[agent.pk]), {"text": "hi", "conversation": colleague.pk}, HTTP_ACCEPT=NDJSON
    )
    assert response.status_code == 400 and "no such conversation" in response.json()["error"]
    listed = client.get(reverse("agents:agent-list")).context["agents"]
    assert [a.pk for a in listed] == [agent.pk]


def test_bad_input_is_a_4xx_and_writes_nothing(client, user, workspace, agent):
    client.force_login(user)
    url = reverse("agents:chat-send", args=[agent.pk])
    for data in ({"text": ""}, {"text": "x" * 4001}, {"text": "hi", "conversation": "abc"}):
        assert client.post(url, data, HTTP_ACCEPT=NDJSON).status_code == 400
    assert client.get(url).status_code == 405
    assert client.get(reverse("agents:chat", args=[agent.pk]), {"c": "1x"}).status_code == 400
    assert not Conversation.objects.exists()


def test_csrf_is_enforced(user, workspace, agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("agents:chat-send", args=[agent.pk]), {"text": "hi"}, HTTP_ACCEPT=NDJSON)
    assert response.status_code == 403 and not Conversation.objects.exists()


def test_editors_add_agents_viewers_cannot(client, user, other_user, workspace):
    client.force_login(user)
    response = client.post(
        reverse("agents:agent-list"),
        {
            "name": "Scout",
            "instructions": "Cite.",
            "search_mode": "fulltext",
            "use_graph": "on",
            "llm_backend": "default",
        },
    )
    scout = Agent.objects.get(workspace=workspace, name="Scout")
    assert response.status_code == 302 and (scout.search_mode, scout.use_graph, scout.use_memory) == (
        "fulltext",
        True,
        False,
    )
    assert (
        client.post(
            reverse("agents:agent-list"), {"name": "Scout", "search_mode": "hybrid", "llm_backend": "default"}
        ).status_code
        == 400
    )
    core_services.membership_add(workspace=workspace, user=other_user, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    client.post(reverse("workspace-switch"), {"workspace": workspace.pk})
    denied = client.post(
        reverse("agents:agent-list"), {"name": "Spy", "search_mode": "hybrid", "llm_backend": "default"}
    )
    assert denied.status_code == 403 and not Agent.objects.filter(name="Spy").exists()
