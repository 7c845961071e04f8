"""The agents app's handles on its storage ports and how it names things in them.

* DocumentStore ``agents.messages``: one document per message, id ``c<conversation id, 12
  digits>.<seq, 6 digits>`` (so a conversation's messages sort by id); body: workspace_id,
  conversation_id, agent_id, seq, role, content, citations, tool_calls, timing, error,
  agent_version, created_at.
* DocumentStore ``agents.state``: one document per state record, id ``<scope>:<scope id>``;
  body: workspace_id, scope, scope_id, version, data.
* VectorStore ``agents.memories.ws<workspace id>.<model>``: one vector per memory, key
  str(Memory.id); metadata: workspace_id, agent_id, user_id (0 for everyone's), memory_id.
* GraphStore: ``Memory`` nodes (key ``w<ws>:memory:<id>``) with ``ABOUT`` edges to
  ``MemoryEntity`` nodes (key ``w<ws>:entity:<knowledge entity id>``; properties: entity_id,
  name) -- the agents app's own reference nodes for knowledge entities, so its graph moves on
  its own (``storage_move agents graph``) whatever store the knowledge graph is in.
"""

from __future__ import annotations

import re

from core.storage import get_document_store, get_graph_store, get_vector_store, write_stores
from core.storage.ports import DocumentStore, GraphStore, NodeRef, Store, VectorStore

APP = "agents"
MESSAGES = "agents.messages"
STATE = "agents.state"
VECTOR_PREFIX = "agents."
MEMORY_LABEL = "Memory"
ENTITY_LABEL = "MemoryEntity"
ABOUT = "ABOUT"


def documents() -> DocumentStore:
    return get_document_store(APP)


def vectors() -> VectorStore:
    return get_vector_store(APP)


def graph() -> GraphStore:
    return get_graph_store(APP)


def vector_targets() -> list[tuple[str, Store]]:
    return write_stores(APP, "vectors")


def message_id(conversation_id: int, seq: int) -> str:
    return f"c{int(conversation_id):012d}.{int(seq):06d}"


def state_id(scope: str, scope_id: int) -> str:
    return f"{scope}:{int(scope_id)}"


def memory_collection(*, workspace_id: int, model: str) -> str:
    return f"{VECTOR_PREFIX}memories.ws{int(workspace_id)}.{re.sub(r'[^A-Za-z0-9_.-]+', '-', model)}"


def memory_ref(workspace_id: int, memory_id: int) -> NodeRef:
    return NodeRef(MEMORY_LABEL, f"w{int(workspace_id)}:memory:{int(memory_id)}")


def entity_ref(workspace_id: int, entity_id: int) -> NodeRef:
    return NodeRef(ENTITY_LABEL, f"w{int(workspace_id)}:entity:{int(entity_id)}")
