"""The agents admin: scoped to the user's workspaces; agent changes write versions through the
services; conversations readable; memories forgotten from every store; JSON-lines exports."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from agents import services, stores
from agents.models import AgentVersion, Memory
from tests.knowledge.helpers import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="agents"))
    return user


def test_agent_change_writes_a_version(client, staff, workspace, agent, other_agent):
    client.force_login(staff)
    page = client.get(reverse("admin:agents_agent_changelist"))
    assert page.status_code == 200 and list(page.context["cl"].result_list) == [agent]
    assert client.get(reverse("admin:agents_agent_change", args=[other_agent.pk])).status_code in (302, 403, 404)
    response = client.post(
        reverse("admin:agents_agent_change", args=[agent.pk]),
        {
            "name": "Helper",
            "instructions": "Answer in French.",
            "search_mode": "semantic",
            "use_graph": "on",
            "llm_backend": "default",
            "tools": "",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "1",
            "versions-MIN_NUM_FORMS": "0",
            "versions-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    agent.refresh_from_db()
    assert (agent.version, agent.instructions, agent.search_mode, agent.use_memory) == (
        2,
        "Answer in French.",
        "semantic",
        False,
    )
    assert AgentVersion.objects.get(agent=agent, number=2).config["instructions"] == "Answer in French."
    assert AgentVersion.objects.get(agent=agent, number=1).config["instructions"] == "Be brief."
    assert client.get(reverse("admin:agents_agent_delete", args=[agent.pk])).status_code == 403


def test_conversations_readable_and_exported(client, staff, workspace, agent, user, other_agent, other_workspace):
    mine = services.conversation_start(workspace_id=workspace.id, agent_id=agent.pk, user_id=user.pk)
    services.messages_append(
        workspace_id=workspace.id, conversation_id=mine.pk, messages=[services.NewMessage("user", "Hello heron")]
    )
    theirs = services.conversation_start(workspace_id=other_workspace.id, agent_id=other_agent.pk, user_id=None)
    client.force_login(staff)
    page = client.get(reverse("admin:agents_conversation_change", args=[mine.pk]))
    assert page.status_code == 200 and "Hello heron" in page.content.decode()
    assert client.get(reverse("admin:agents_conversation_change", args=[theirs.pk])).status_code in (302, 403, 404)
    export = client.post(
        reverse("admin:agents_conversation_changelist"),
        {"action": "export_jsonl", "_selected_action": [mine.pk, theirs.pk]},
    )
    rows = [json.loads(line) for line in export.content.decode().splitlines()]
    assert [r["conversation_id"] for r in rows] == [mine.pk]
    assert rows[0]["messages"][0]["content"] == "Hello heron"


def test_forget_action_removes_memories_from_every_store(client, staff, workspace, agent, other_agent, other_workspace):
    mine = services.memory_add(workspace_id=workspace.id, agent_id=agent.pk, user_id=None, statement="Lunch at noon")
    theirs = services.memory_add(
        workspace_id=other_workspace.id, agent_id=other_agent.pk, user_id=None, statement="Their secret"
    )
    drain()
    client.force_login(staff)
    client.post(
        reverse("admin:agents_memory_changelist"),
        {"action": "forget", "_selected_action": [mine.memory_id, theirs.memory_id]},
    )
    drain()
    assert not Memory.objects.filter(pk=mine.memory_id).exists()
    assert Memory.objects.filter(pk=theirs.memory_id).exists()  # not in the staff user's workspaces
    assert stores.graph().get_node(stores.memory_ref(workspace.id, mine.memory_id)) is None
    export = client.post(
        reverse("admin:agents_memory_changelist"), {"action": "export_jsonl", "_selected_action": [theirs.memory_id]}
    )
    assert export.content.decode() == ""


def test_a_viewer_forgets_nothing(client, django_user_model, workspace, agent):
    from core import services as core_services

    kept = services.memory_add(workspace_id=workspace.id, agent_id=agent.pk, user_id=None, statement="Lunch at noon")
    drain()
    vera = django_user_model.objects.create_user(username="vera", password="pw-vera-123", is_staff=True)
    vera.user_permissions.add(*Permission.objects.filter(content_type__app_label="agents"))
    core_services.membership_add(workspace=workspace, user=vera, role="viewer")
    client.force_login(vera)
    client.post(reverse("admin:agents_memory_changelist"), {"action": "forget", "_selected_action": [kept.memory_id]})
    drain()
    assert Memory.objects.filter(pk=kept.memory_id).exists()
    assert stores.graph().get_node(stores.memory_ref(workspace.id, kept.memory_id)) is not None
