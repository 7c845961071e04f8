"""What an adapter can do, declared once per adapter like Django's ``connection.features``.

Callers and the contract suites gate on these flags instead of on adapter classes
(``tests/contracts/features.py::skip_unless_feature``). An adapter sets ``features`` as a class
attribute, or per instance when it depends on the configuration (a Postgres adapter on the
``default`` database joins the caller's transaction; the same adapter on another alias does not).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StoreFeatures:
    #: writes run on Django's ``default`` connection, so they commit or roll back with the
    #: caller's ``transaction.atomic()``; a projection handler may then run inline
    joins_db_transaction: bool = False
    #: a short name of the engine ("postgresql", "qdrant", "falkordb", "redis")
    vendor: str = ""


@dataclass(frozen=True)
class DocumentFeatures(StoreFeatures):
    #: ``find(path=...)`` accepts SQL/JSON path filter queries (PostgreSQL's jsonpath)
    supports_path_queries: bool = False
    #: ``scan`` pages and ``find`` results are ordered by id in code-point order
    orders_ids_by_code_point: bool = True


@dataclass(frozen=True)
class VectorFeatures(StoreFeatures):
    #: the dimensions a collection may have (None: any from 1 to ``max_dimension``)
    dimensions: frozenset[int] | None = None
    max_dimension: int = 65536
    #: the largest ``k`` of one search
    max_k: int = 1000
    metrics: frozenset[str] = field(default_factory=lambda: frozenset({"cosine", "l2", "inner_product"}))
    #: hits at exactly the same distance come back ordered by key (else in any order)
    orders_ties_by_key: bool = False
    #: vectors come back bit for bit as written (else within float32 precision, e.g. a store
    #: that normalises cosine vectors and keeps their norm)
    exact_vector_round_trip: bool = False
    #: ``indexed_fields`` build real payload indexes (else they are recorded only)
    builds_payload_indexes: bool = False
    #: the ``create_collection(index=...)`` kinds the store builds (others get its own index)
    index_kinds: frozenset[str] = frozenset()
    #: ``bulk_load`` can stage a large load: one index build, readers see all of it or none
    stages_bulk_loads: bool = False
    #: ``create_collection(index_dimensions=d)`` builds the index on the leading ``d`` components
    #: (the rest must be zero); else the hint is ignored (it changes no answer, only the cost)
    indexes_leading_dimensions: bool = False


@dataclass(frozen=True)
class GraphFeatures(StoreFeatures):
    #: ``cypher()`` runs Cypher with ``$name`` parameters and returns neutral values
    supports_cypher: bool = False
    #: the deepest ``k_hop`` / ``subgraph`` / ``shortest_path`` the store accepts
    max_depth: int = 10
    #: node filters may address nested properties (``a.b``); else top-level names only
    supports_nested_filter_paths: bool = True
    #: ``bulk_load`` is all-or-nothing (else validated first, then written in several steps)
    atomic_bulk_load: bool = False


@dataclass(frozen=True)
class CacheFeatures(StoreFeatures):
    supports_tags: bool = True
