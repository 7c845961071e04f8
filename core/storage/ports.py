"""Storage ports: what an app may ask of a document, vector, graph or cache store.

Apps talk to these interfaces only (obtained from ``core.storage.get_*_store(app)``), never to
the adapter tables. The Postgres adapters run on the caller's Django connection, so they
join whatever ``transaction.atomic()`` block is open. A future adapter (Qdrant, MongoDB,
Neo4j) must pass the contract suites in ``tests/contracts/`` unchanged.

Every store raises the errors defined here for bad input, before writing anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

# ---------------------------------------------------------------- errors


class StorageError(Exception):
    """Base class of every error a store raises on purpose."""


class InvalidInput(StorageError, ValueError):
    """The caller passed something the store refuses (nothing was written)."""


class MalformedDocument(InvalidInput):
    """Not a JSON object, not serialisable, or not storable (e.g. NaN, NUL characters)."""


class PayloadTooLarge(InvalidInput):
    """A document or metadata payload is over the configured size limit."""


class InvalidName(InvalidInput):
    """A collection, label or key does not match the allowed pattern."""


class UnknownCollection(StorageError, LookupError):
    """The collection has not been created."""


class CollectionConflict(StorageError):
    """A collection exists with a different dimension / model / metric."""


class DimensionMismatch(InvalidInput):
    """A vector's length differs from its collection's dimension."""


class ModelMismatch(InvalidInput):
    """Vectors made by one embedding model written to / searched in another model's collection."""


class UnknownLabel(InvalidInput, LookupError):
    """A node label or edge type that has not been defined in the graph."""


class NodeNotFound(StorageError, LookupError):
    """An edge endpoint (or traversal start) does not exist."""


class CacheUnavailable(StorageError):
    """The cache server cannot be reached. Only deletes raise it (an invalidation must not be
    lost silently); reads and writes degrade to misses."""


# ---------------------------------------------------------------- documents


@dataclass(frozen=True)
class StoredDocument:
    id: str
    body: dict[str, Any]


@runtime_checkable
class DocumentStore(Protocol):
    """JSON documents (objects) by id inside named collections."""

    def create_collection(self, name: str) -> None:
        """Create the collection; a no-op when it exists."""

    def drop_collection(self, name: str) -> None:
        """Delete the collection and every document in it."""

    def put(self, collection: str, doc_id: str, document: Mapping[str, Any] | str | bytes) -> None:
        """Insert or replace one document. ``str``/``bytes`` are parsed as JSON."""

    def put_many(self, collection: str, documents: Iterable[tuple[str, Mapping[str, Any] | str | bytes]]) -> int:
        """Insert or replace many documents; all are validated before any is written."""

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None: ...

    def get_many(self, collection: str, doc_ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    def delete(self, collection: str, doc_id: str) -> bool: ...

    def delete_many(self, collection: str, doc_ids: Iterable[str]) -> int: ...

    def find(
        self,
        collection: str,
        *,
        contains: Mapping[str, Any] | None = None,
        path: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredDocument]:
        """Documents that contain ``contains`` (JSON containment) and for which the SQL/JSON
        path predicate ``path`` (e.g. ``'$.tags[*] ? (@ == "ai")'``) matches; ordered by id."""

    def find_ids(
        self,
        collection: str,
        *,
        contains: Mapping[str, Any] | None = None,
        path: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Like ``find`` but only the ids (no bodies); ``limit=None`` means all."""

    def count(self, collection: str, *, contains: Mapping[str, Any] | None = None) -> int: ...


# ---------------------------------------------------------------- vectors

Metric = Literal["cosine", "l2", "inner_product"]


@dataclass(frozen=True)
class VectorCollection:
    name: str
    dimension: int
    model: str
    metric: Metric = "cosine"


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


@runtime_checkable
class VectorStore(Protocol):
    """Embeddings with JSON metadata in collections of fixed dimension and embedding model."""

    def create_collection(
        self, name: str, *, dimension: int, model: str, metric: Metric = "cosine"
    ) -> VectorCollection:
        """Create (or return the identical existing) collection; a different spec raises CollectionConflict."""

    def get_collection(self, name: str) -> VectorCollection:
        """Raises UnknownCollection."""

    def list_collections(self) -> list[VectorCollection]: ...

    def drop_collection(self, name: str) -> None: ...

    def upsert(self, collection: str, items: Iterable[VectorItem], *, model: str) -> int:
        """Insert or replace by key. ``model`` must be the collection's model."""

    def delete(self, collection: str, keys: Iterable[str]) -> int: ...

    def delete_where(self, collection: str, filter: Mapping[str, Any]) -> int:
        """Delete every vector whose metadata contains ``filter``."""

    def get(self, collection: str, key: str) -> VectorItem | None: ...

    def count(self, collection: str, *, filter: Mapping[str, Any] | None = None) -> int: ...

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        model: str,
        k: int = 10,
        filter: Mapping[str, Any] | None = None,
    ) -> list[VectorHit]:
        """The k nearest vectors whose metadata contains ``filter``, closest first."""


# ---------------------------------------------------------------- graph

Direction = Literal["out", "in", "both"]


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


@runtime_checkable
class GraphStore(Protocol):
    """A property graph of labelled nodes (unique by label + key) and typed, directed edges
    (unique by type + source + target)."""

    def define_node_label(self, label: str) -> None:
        """Declare a node label (idempotent). Writing to an undeclared label raises UnknownLabel."""

    def define_edge_type(self, edge_type: str) -> None:
        """Declare an edge type (idempotent)."""

    def node_labels(self) -> list[str]: ...

    def edge_types(self) -> list[str]: ...

    def upsert_node(self, label: str, key: str, properties: Mapping[str, Any] | None = None) -> Node:
        """Create the node or replace its properties."""

    def upsert_edge(
        self, edge_type: str, source: NodeRef, target: NodeRef, properties: Mapping[str, Any] | None = None
    ) -> Edge:
        """Create the edge or replace its properties; both endpoints must exist (NodeNotFound)."""

    def bulk_load(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = ()) -> BulkLoadResult:
        """Set-based upsert of many nodes, then many edges (endpoints resolved once)."""

    def get_node(self, ref: NodeRef) -> Node | None: ...

    def delete_node(self, ref: NodeRef) -> bool:
        """Delete the node and every edge touching it."""

    def delete_edge(self, edge_type: str, source: NodeRef, target: NodeRef) -> bool: ...

    def neighbours(
        self,
        ref: NodeRef,
        *,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Node]:
        """Nodes one edge away, ordered by (label, key)."""

    def k_hop(
        self,
        ref: NodeRef,
        *,
        k: int,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Hop]:
        """Distinct nodes reachable in 1..k edges (not the start), with their shortest depth;
        ordered by (depth, label, key)."""

    def shortest_path(
        self,
        source: NodeRef,
        target: NodeRef,
        *,
        max_depth: int = 6,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
    ) -> Path | None: ...

    def subgraph(
        self,
        ref: NodeRef,
        *,
        depth: int = 1,
        direction: Direction = "both",
        edge_types: Sequence[str] | None = None,
        limit: int = 500,
    ) -> Subgraph:
        """The start node, the nodes within ``depth`` edges, and every edge among them."""

    def cypher(
        self, query: str, params: Mapping[str, Any] | None = None, *, columns: Sequence[str] = ("result",)
    ) -> list[dict[str, Any]]:
        """Run a Cypher query with ``$name`` parameters; one dict per row keyed by ``columns``.
        Vertices/edges come back as dicts (``id``, ``label``, ``properties``, ...)."""


# ---------------------------------------------------------------- cache


@runtime_checkable
class Cache(Protocol):
    """Key/value cache with invalidation by tag or key prefix. Values must be picklable.

    A cache is an optimisation, so an unreachable cache server is not an error for readers:
    ``get``/``get_or_set`` answer as for a miss (``get_or_set`` computes the value) and ``set``
    drops the value, with a logged warning. ``delete``, ``delete_by_tag`` and
    ``delete_by_prefix`` raise ``CacheUnavailable``. Callers that must never serve stale data
    put a version they bump in the database into their keys rather than rely on deletes."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, *, timeout: float | None = None, tags: Iterable[str] = ()) -> None: ...

    def get_or_set(self, key: str, compute: Any, *, timeout: float | None = None, tags: Iterable[str] = ()) -> Any:
        """Return the cached value, or call ``compute()``, cache and return it."""

    def delete(self, key: str) -> bool: ...

    def delete_by_tag(self, tag: str) -> int:
        """Delete every key set with ``tag``; returns how many were deleted."""

    def delete_by_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` (taken literally, no wildcards)."""
