"""Reads of the knowledge app (the public facade), each scoped to one workspace.

* ``knowledge.queries``  graph queries over the GraphStore port (neighbours, k-hop, paths, ...)
* ``knowledge.retrieval``  graph-aware retrieval (the search page's graph mode; the agents app)
* ``knowledge.pages``  what the knowledge pages show
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
from knowledge.retrieval import GraphAnswer, RankedDocument, RankedFact, SeedEntity, entities_in, graph_retrieve

__all__ = [
    "MAX_DEPTH",
    "EdgeView",
    "GraphAnswer",
    "GraphQueryError",
    "NodeMissing",
    "NodeView",
    "PathView",
    "RankedDocument",
    "RankedFact",
    "SeedEntity",
    "dependents",
    "document_edges",
    "document_entities",
    "duplicate_groups",
    "entities_in",
    "entity_documents",
    "graph_retrieve",
    "k_hop",
    "latest_merge_entry",
    "neighbours",
    "shortest_path",
    "subgraph",
]
