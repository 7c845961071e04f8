"""Reads of the agents app (the public facade), each scoped to one workspace."""

from __future__ import annotations

from agents.configs import agent_get, agent_list, llm_backend_names, version_config
from agents.conversations import conversation_get, conversation_list, conversation_messages
from agents.state import state_read

__all__ = [
    "agent_get",
    "agent_list",
    "conversation_get",
    "conversation_list",
    "conversation_messages",
    "llm_backend_names",
    "state_read",
    "version_config",
]
