"""Fuzzing the agents: the chat endpoint (streamed or not), the chat page's conversation
parameter, the add-agent form, and state writes. Never a 500; a refused request writes nothing."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import selectors, services
from agents.models import Message
from tests.fuzz import strategies as s
from tests.fuzz.conftest import examples

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(client, user, workspace):
    client.force_login(user)
    return client


@pytest.fixture
def agent(workspace):
    return services.agent_create(workspace_id=workspace.id, config=services.AgentConfig(name="Fuzz"))


def ok(response) -> None:
    assert response.status_code in (200, 302, 400, 403, 404, 405), response.status_code


def test_chat_send(request, site, agent, count):
    url = reverse("agents:chat-send", args=[agent.pk])

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 150))
    @given(
        text=st.one_of(s.text, st.text(max_size=5000)),
        conversation=st.one_of(s.short_text, st.integers().map(str)),
        stream=st.booleans(),
    )
    def run(text, conversation, stream):
        count()
        before = Message.objects.count()
        response = site.post(
            url,
            {"text": text, "conversation": conversation},
            **({"HTTP_ACCEPT": "application/x-ndjson"} if stream else {}),
        )
        ok(response)
        if response.status_code == 200 and response.streaming:
            events = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
            assert events[-1]["type"] == "done"
            assert Message.objects.count() == before + 2
        elif response.status_code >= 400:
            assert Message.objects.count() == before

    run()
    assert count.ran() >= 100


def test_chat_page_and_agent_form(request, site, agent, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 200))
    @given(
        c=s.short_text,
        form=st.dictionaries(
            st.sampled_from(["name", "instructions", "search_mode", "use_graph", "use_memory", "llm_backend"]),
            s.text,
            max_size=6,
        ),
    )
    def run(c, form):
        count()
        ok(site.get(reverse("agents:chat", args=[agent.pk]), {"c": c}))
        ok(site.post(reverse("agents:agent-list"), form))

    run()
    assert count.ran() >= 150


def test_state_writes(request, workspace, agent, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 200))
    @given(
        data=st.one_of(s.json_texts, s.text, st.dictionaries(s.short_text, s.text, max_size=4)),
        expected=st.integers(-3, 3),
    )
    def run(data, expected):
        count()
        before = selectors.state_read(workspace_id=workspace.id, scope="agent", scope_id=agent.pk)
        try:
            after = services.state_write(
                workspace_id=workspace.id, scope="agent", scope_id=agent.pk, expected_version=expected, data=data
            )
        except services.StateError:
            now = selectors.state_read(workspace_id=workspace.id, scope="agent", scope_id=agent.pk)
            assert (now.version, now.data) == (before.version, before.data)
        else:
            assert expected == before.version and after.version == before.version + 1

    run()
    assert count.ran() >= 150
