"""Reads of the knowledge app (the public facade), each scoped to one workspace.

* ``knowledge.queries``  graph queries over the GraphStore port (neighbours, k-hop, paths, ...)
* ``knowledge.lookups``  entities, facts and relations from the rows (pages, admin)
"""

from __future__ import annotations

from knowledge.merge import duplicate_groups, latest_merge_entry
from knowledge.queries import (
    MAX_DEPTH,
    EdgeView,
    GraphQueryError,
    NodeMissing,
    NodeView,
    PathView,
    dependents,
    document_edges,
    document_entities,
    entity_documents,
    k_hop,
    neighbours,
    shortest_path,
    subgraph,
)

__all__ = [
    "MAX_DEPTH",
    "EdgeView",
    "GraphQueryError",
    "NodeMissing",
    "NodeView",
    "PathView",
    "dependents",
    "document_edges",
    "document_entities",
    "duplicate_groups",
    "entity_documents",
    "k_hop",
    "latest_merge_entry",
    "neighbours",
    "shortest_path",
    "subgraph",
]
