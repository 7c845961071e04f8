"""Deleting a workspace clears its agents from every store: message and state documents, memory
vectors, memory graph nodes, interaction events (another workspace keeps its own)."""

from __future__ import annotations

import pytest

from agents import services, stores
from agents.flywheel.models import InteractionEvent
from agents.flywheel.services import Interaction, record_interaction
from core import services as core_services
from core.storage.filters import Eq
from tests.knowledge.helpers import drain

pytestmark = pytest.mark.django_db


def fill(workspace_id: int, agent_id: int) -> int:
    conversation = services.conversation_start(workspace_id=workspace_id, agent_id=agent_id, user_id=None)
    services.messages_append(
        workspace_id=workspace_id, conversation_id=conversation.pk, messages=[services.NewMessage("user", "hi")]
    )
    services.state_write(workspace_id=workspace_id, scope="agent", scope_id=agent_id, expected_version=0, data={})
    record_interaction(
        Interaction(workspace_id, agent_id, 1, conversation.pk, None, "hi", [], "hello", [], {"total": 1.0}, "offline")
    )
    written = services.memory_add(workspace_id=workspace_id, agent_id=agent_id, user_id=None, statement="Tea at 4")
    drain()
    return written.memory_id


def held(workspace_id: int) -> dict[str, int]:
    mine = Eq("workspace_id", workspace_id)
    vectors = sum(
        stores.vectors().count(c.name)
        for c in stores.vectors().list_collections()
        if c.name.startswith(f"agents.memories.ws{workspace_id}.")
    )
    return {
        "messages": len(stores.documents().find_ids(stores.MESSAGES, where=mine)),
        "state": len(stores.documents().find_ids(stores.STATE, where=mine)),
        "memory_nodes": stores.graph().count_nodes(stores.MEMORY_LABEL, where=mine),
        "vectors": vectors,
        "events": InteractionEvent.objects.filter(workspace_id=workspace_id).count(),
    }


def test_workspace_delete_clears_the_agents_stores(workspace, other_workspace, agent, other_agent, user):
    fill(workspace.id, agent.pk)
    fill(other_workspace.id, other_agent.pk)
    everything = {"messages": 1, "state": 1, "memory_nodes": 1, "vectors": 1, "events": 1}
    assert held(workspace.id) == held(other_workspace.id) == everything
    core_services.workspace_delete(workspace=workspace, actor=user)
    drain()
    assert held(workspace.id) == {"messages": 0, "state": 0, "memory_nodes": 0, "vectors": 0, "events": 0}
    assert held(other_workspace.id) == everything
