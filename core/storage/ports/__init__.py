"""Storage ports: what an app may ask of a document, vector, graph or cache store.

Apps talk to these interfaces only (obtained from ``core.storage.get_*_store(app)``), never to
an adapter's tables or client. Each port is an abstract base class that validates every
argument once and then calls its adapter's protected ``_do_*`` hooks; each adapter declares
what it can do in ``features``. Every adapter passes the same contract suites in
``tests/contracts/``, skipping only cases its features rule out.

    ports/errors.py     the errors (StoreUnavailable is the retryable one)
    ports/types.py      documents, vectors, nodes, edges, paths, pages
    ports/features.py   what an adapter can do
    ports/base.py       the shared base: features, close(), error mapping, sealed methods
    ports/documents.py  ports/vectors.py  ports/graph.py  ports/cache.py   the four ports
"""

from core.storage.ports.errors import (
    CacheUnavailable,
    CollectionConflict,
    DimensionMismatch,
    InvalidFilter,
    InvalidInput,
    InvalidName,
    MalformedDocument,
    ModelMismatch,
    NodeNotFound,
    NotSupported,
    PayloadTooLarge,
    StorageError,
    StoreUnavailable,
    TraversalTooLarge,
    UnknownCollection,
    UnknownLabel,
)
from core.storage.ports.features import (
    CacheFeatures,
    DocumentFeatures,
    GraphFeatures,
    StoreFeatures,
    VectorFeatures,
)
from core.storage.ports.types import (
    BulkLoadResult,
    Direction,
    Edge,
    FieldType,
    Hop,
    Metric,
    Node,
    NodeRef,
    Page,
    Path,
    StoredDocument,
    Subgraph,
    VectorCollection,
    VectorHit,
    VectorItem,
)

from core.storage.ports.vector_load import VectorLoad  # isort: skip
from core.storage.ports.base import Store  # isort: skip
from core.storage.ports.cache import Cache  # isort: skip
from core.storage.ports.documents import DocumentStore  # isort: skip
from core.storage.ports.graph import GraphStore  # isort: skip
from core.storage.ports.vectors import VectorStore  # isort: skip

__all__ = [
    "BulkLoadResult",
    "Cache",
    "CacheFeatures",
    "CacheUnavailable",
    "CollectionConflict",
    "DimensionMismatch",
    "Direction",
    "DocumentFeatures",
    "DocumentStore",
    "Edge",
    "FieldType",
    "GraphFeatures",
    "GraphStore",
    "Hop",
    "InvalidFilter",
    "InvalidInput",
    "InvalidName",
    "MalformedDocument",
    "Metric",
    "ModelMismatch",
    "Node",
    "NodeNotFound",
    "NodeRef",
    "NotSupported",
    "Page",
    "Path",
    "PayloadTooLarge",
    "StorageError",
    "Store",
    "StoreFeatures",
    "StoreUnavailable",
    "StoredDocument",
    "Subgraph",
    "TraversalTooLarge",
    "UnknownCollection",
    "UnknownLabel",
    "VectorCollection",
    "VectorFeatures",
    "VectorHit",
    "VectorItem",
    "VectorLoad",
    "VectorStore",
]
