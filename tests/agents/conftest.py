"""Fixtures of the agents tests."""

from __future__ import annotations

import pytest

from agents import services


@pytest.fixture
def agent(workspace, user):
    return services.agent_create(
        workspace_id=workspace.id, config=services.AgentConfig(name="Helper", instructions="Be brief."), user_id=user.pk
    )


@pytest.fixture
def other_agent(other_workspace, other_user):
    return services.agent_create(
        workspace_id=other_workspace.id, config=services.AgentConfig(name="Helper"), user_id=other_user.pk
    )
