"""The knowledge app's handles on its storage ports and how it names things in them.

**Workspace isolation in the graph: a per-workspace key namespace, enforced here.** Every node
the knowledge app writes has the key ``w<workspace id>:<local key>`` (entities: their ``key``;
documents: ``doc:<document id>``) and a ``workspace_id`` property, and every graph reference
the app builds goes through ``entity_ref`` / ``document_ref`` / ``node_ref`` below, which take
the workspace. Edges are only ever written between two nodes of the same workspace (the
projection builds both ends from one workspace id), so a traversal that starts in a workspace
cannot leave it; reads also pass through ``visible``, which drops any node of another
workspace. Two workspaces can therefore hold nodes with the same local keys
(``tests/knowledge/test_isolation.py``). One graph (not one per workspace) keeps the app's
graph a single (app, kind) store, so ``storage_move`` moves it like any other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.storage import get_graph_store, get_vector_store, write_stores
from core.storage.ports import GraphStore, Node, NodeRef, Store, VectorStore

APP = "knowledge"
ENTITY_LABEL = "Entity"  # key: w<ws>:<Entity.key>; properties: workspace_id, entity_id, name, type, aliases
DOCUMENT_LABEL = "DocumentRef"  # key: w<ws>:doc:<document id>; properties: workspace_id, document_id
MENTIONS, RELATED_TO, DEPENDS_ON = "MENTIONS", "RELATED_TO", "DEPENDS_ON"
BUILTIN_EDGE_TYPES = (MENTIONS, RELATED_TO, DEPENDS_ON)
VECTOR_PREFIX = "knowledge."
DOCUMENT_PREFIX = "doc:"
_PREFIX = re.compile(r"^w(\d+):")


def graph() -> GraphStore:
    return get_graph_store(APP)


def vectors() -> VectorStore:
    return get_vector_store(APP)


def vector_targets() -> list[tuple[str, Store]]:
    return write_stores(APP, "vectors")


def fact_collection(*, workspace_id: int, model: str) -> str:
    """One fact collection per (workspace, embedding model); key: str(Fact.id)."""
    return f"{VECTOR_PREFIX}facts.ws{int(workspace_id)}.{re.sub(r'[^A-Za-z0-9_.-]+', '-', model)}"


def edge_types_in_use() -> list[str]:
    """Every relation label of every workspace (what ``storage_move`` copies besides the built-in
    types), read from the rows."""
    from knowledge.models import Relation

    return sorted(Relation.objects.values_list("label", flat=True).distinct())


# ---------------------------------------------------------------- the key namespace


def prefix(workspace_id: int) -> str:
    return f"w{int(workspace_id)}:"


def node_key(workspace_id: int, local_key: str) -> str:
    return prefix(workspace_id) + local_key


def local_key(workspace_id: int, key: str) -> str | None:
    """The local key of a graph key of this workspace; None for another workspace's key."""
    start = prefix(workspace_id)
    return key[len(start) :] if key.startswith(start) else None


def workspace_of(key: str) -> int | None:
    match = _PREFIX.match(key)
    return int(match.group(1)) if match else None


def entity_ref(workspace_id: int, key: str) -> NodeRef:
    return NodeRef(ENTITY_LABEL, node_key(workspace_id, key))


def document_local_key(document_id: int) -> str:
    return f"{DOCUMENT_PREFIX}{int(document_id)}"


def document_id(local_key: str) -> int | None:
    """The document id of a local key ``doc:<id>`` (None for an entity's key)."""
    number = local_key[len(DOCUMENT_PREFIX) :] if local_key.startswith(DOCUMENT_PREFIX) else ""
    return int(number) if number.isascii() and number.isdigit() else None


def document_ref(workspace_id: int, document_id: int) -> NodeRef:
    return NodeRef(DOCUMENT_LABEL, node_key(workspace_id, document_local_key(document_id)))


def node_ref(workspace_id: int, kind: str, value: int | str) -> NodeRef:
    """``kind`` "e" (value: the entity's key) or "d" (value: the document id)."""
    return document_ref(workspace_id, int(value)) if kind == "d" else entity_ref(workspace_id, str(value))


def belongs(workspace_id: int, node: Node | NodeRef) -> bool:
    return node.key.startswith(prefix(workspace_id)) and node.label in (ENTITY_LABEL, DOCUMENT_LABEL)


def visible(workspace_id: int, nodes: Iterable[Node]) -> list[Node]:
    """The nodes of this workspace (the guard every read passes its results through)."""
    return [node for node in nodes if belongs(workspace_id, node)]
