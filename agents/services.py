"""Writes of the agents app (the public facade): agents and versions, conversations and
messages, state, memories, and chat turns.

* ``agents.configs``        agents and their immutable versions
* ``agents.conversations``  conversations, messages (JSON documents)
* ``agents.state``          per-agent / per-conversation state, optimistic concurrency
* ``agents.memory_writes``  memories: add (near-duplicates merged), update, forget
"""

from __future__ import annotations

from agents.configs import AgentConfig, AgentError, agent_create, agent_update
from agents.conversations import ConversationError, NewMessage, conversation_start, messages_append
from agents.memory_writes import MemoryError, MemoryWrite, memory_add, memory_forget, memory_update
from agents.state import StaleState, StateError, StateView, state_write

__all__ = [
    "AgentConfig",
    "AgentError",
    "ConversationError",
    "MemoryError",
    "MemoryWrite",
    "NewMessage",
    "StaleState",
    "StateError",
    "StateView",
    "agent_create",
    "agent_update",
    "conversation_start",
    "memory_add",
    "memory_forget",
    "memory_update",
    "messages_append",
    "state_write",
]
