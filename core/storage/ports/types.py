"""The values that travel through the ports: documents, vectors, graph nodes and edges, pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

Metric = Literal["cosine", "l2", "inner_product"]
FieldType = Literal["keyword", "integer", "float", "bool"]
Direction = Literal["out", "in", "both"]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a scan. ``next_cursor`` is opaque: pass it as ``after=`` to get the next page;
    None means the scan is complete. Pages are ordered by the store's own stable order."""

    items: list[T]
    next_cursor: str | None


# ---------------------------------------------------------------- documents


@dataclass(frozen=True)
class StoredDocument:
    id: str
    body: dict[str, Any]


# ---------------------------------------------------------------- vectors


@dataclass(frozen=True)
class VectorCollection:
    name: str
    dimension: int
    model: str
    metric: Metric = "cosine"
    #: metadata paths the store indexes for filtering, as sorted (dotted path, field type) pairs
    indexed_fields: tuple[tuple[str, FieldType], ...] = ()
    #: the leading components the store's index covers (``create_collection(index_dimensions=)``);
    #: None when the store does not say (it indexes them all). Not part of the collection's identity.
    index_dimensions: int | None = field(default=None, compare=False)
    #: the index kind the store built (one of ``vector_input.INDEX_KINDS``; None when the store
    #: builds its own kind of index). Not part of the collection's identity.
    index_type: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class VectorItem:
    key: str
    vector: Sequence[float]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VectorHit:
    key: str
    score: float  # higher is closer: cosine similarity, negative L2 distance, inner product
    distance: float  # the metric's raw distance (lower is closer)
    metadata: dict[str, Any]


# ---------------------------------------------------------------- graph


@dataclass(frozen=True)
class NodeRef:
    label: str
    key: str


@dataclass(frozen=True)
class Node:
    label: str
    key: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> NodeRef:
        return NodeRef(self.label, self.key)


@dataclass(frozen=True)
class Edge:
    type: str
    source: NodeRef
    target: NodeRef
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hop:
    node: Node
    depth: int


@dataclass(frozen=True)
class Path:
    nodes: list[Node]
    edges: list[Edge]

    @property
    def length(self) -> int:
        return len(self.edges)


@dataclass(frozen=True)
class Subgraph:
    nodes: list[Node]
    edges: list[Edge]


@dataclass(frozen=True)
class BulkLoadResult:
    nodes: int
    edges: int
