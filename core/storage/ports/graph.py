"""The GraphStore port: a property graph of labelled nodes (unique by label + key) and typed,
directed edges (unique by type + source + target)."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings

from core.storage import filters, graph_input, validation
from core.storage.ports.base import Store
from core.storage.ports.documents import MAX_SCAN_PAGE, check_cursor
from core.storage.ports.errors import InvalidInput, NotSupported
from core.storage.ports.features import GraphFeatures
from core.storage.ports.types import BulkLoadResult, Direction, Edge, Hop, Node, NodeRef, Page, Path, Subgraph

NODE, EDGE = "node", "edge"


class GraphStore(Store):
    """Labels and edge types are declared before use (UnknownLabel otherwise); node keys are
    1-255 printable characters; properties are JSON objects (``key`` and names starting with
    ``_strata`` are reserved). Orderings compare strings by code point.

    Hooks receive validated arguments; properties arrive as compact JSON text (a node's with
    its ``key``). ``_do_require`` raises UnknownLabel and runs before every hook that names
    labels or types.

    Every traversal takes ``properties``: with False its nodes and edges come back with empty
    properties, which is cheaper (only ids, labels and keys travel from the store)."""

    _is_port = True
    features: GraphFeatures = GraphFeatures()

    # ------------------------------------------------------------ schema

    def define_node_label(self, label: str) -> None:
        """Declare a node label (idempotent)."""
        self._run(self._do_define, graph_input.validate_label(label), NODE)

    def define_edge_type(self, edge_type: str) -> None:
        """Declare an edge type (idempotent)."""
        self._run(self._do_define, graph_input.validate_label(edge_type), EDGE)

    def node_labels(self) -> list[str]:
        return sorted(self._run(self._do_labels, NODE))

    def edge_types(self) -> list[str]:
        return sorted(self._run(self._do_labels, EDGE))

    # ------------------------------------------------------------ writes

    def upsert_node(self, label: str, key: str, properties: Mapping[str, Any] | None = None) -> Node:
        """Create the node or replace its properties."""
        graph_input.validate_label(label)
        graph_input.check_key(key)
        text = graph_input.properties_json(properties, node_key=key)
        self._require([label])
        self._run(self._do_upsert_node, label, key, text)
        stored = json.loads(text)
        del stored["key"]
        return Node(label, key, stored)

    def upsert_edge(
        self, edge_type: str, source: NodeRef, target: NodeRef, properties: Mapping[str, Any] | None = None
    ) -> Edge:
        """Create the edge or replace its properties; both endpoints must exist (NodeNotFound)."""
        graph_input.validate_label(edge_type)
        source, target = graph_input.check_ref(source, "source"), graph_input.check_ref(target, "target")
        text = graph_input.properties_json(properties)
        self._require([source.label, target.label], [edge_type])
        self._run(self._do_upsert_edge, edge_type, source, target, text)
        return Edge(edge_type, source, target, json.loads(text))

    def bulk_load(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = ()) -> BulkLoadResult:
        """Upsert many nodes, then many edges (a later duplicate wins). Everything is validated
        and every edge endpoint checked (NodeNotFound) before anything is written;
        ``features.atomic_bulk_load`` says whether the writes themselves are all-or-nothing."""
        batch = graph_input.Batch()
        batch.add_nodes(nodes)
        batch.add_edges(edges)
        if not batch.nodes and not batch.edges:
            return BulkLoadResult(nodes=0, edges=0)
        self._require(batch.vertex_labels(), batch.edge_types())
        self._run(self._do_bulk_load, batch)
        return BulkLoadResult(nodes=sum(len(rows) for rows in batch.nodes.values()), edges=len(batch.edges))

    def delete_node(self, ref: NodeRef) -> bool:
        """Delete the node and every edge touching it."""
        ref = graph_input.check_ref(ref)
        self._require([ref.label])
        return self._run(self._do_delete_node, ref)

    def delete_nodes(self, label: str, *, where: filters.Filter) -> int:
        """Delete the label's nodes matching ``where`` (on their properties) and every edge touching
        them; returns how many nodes went. ``where`` is required: there is no "delete all"."""
        graph_input.validate_label(label)
        condition = self._node_filter(where)
        if condition is None:
            raise InvalidInput("delete_nodes needs a where filter")
        self._require([label])
        return self._run(self._do_delete_nodes, label, condition)

    def delete_edge(self, edge_type: str, source: NodeRef, target: NodeRef) -> bool:
        graph_input.validate_label(edge_type)
        source, target = graph_input.check_ref(source, "source"), graph_input.check_ref(target, "target")
        self._require([source.label, target.label], [edge_type])
        return self._run(self._do_delete_edge, edge_type, source, target)

    # ------------------------------------------------------------ reads

    def get_node(self, ref: NodeRef) -> Node | None:
        ref = graph_input.check_ref(ref)
        self._require([ref.label])
        return self._run(self._do_get_node, ref)

    def neighbours(
        self,
        ref: NodeRef,
        *,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
        limit: int | None = None,
        properties: bool = True,
    ) -> list[Node]:
        """Nodes one edge away, ordered by (label, key); the start only through a self-loop."""
        limit = graph_input.check_limit(limit)
        properties = graph_input.check_flag(properties, "properties")
        ref, types = self._traversal(ref, direction, edge_types)
        return self._run(self._do_neighbours, ref, direction, types, limit, properties)

    def neighbours_page(
        self,
        ref: NodeRef,
        *,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
        after: str | None = None,
        limit: int = 1000,
        properties: bool = True,
    ) -> Page[Node]:
        """The nodes one edge away a page at a time, for neighbourhoods too large for one answer
        (a hub): pass ``next_cursor`` as ``after`` for the next page (None: that was the last).
        Pages follow the store's own stable order, not (label, key); each page costs about its
        own size, however deep into the neighbourhood it is."""
        limit = validation.bounded_int(limit, what="limit", low=1, high=MAX_SCAN_PAGE)
        properties = graph_input.check_flag(properties, "properties")
        after = check_cursor(after)
        ref, types = self._traversal(ref, direction, edge_types)
        return self._run(self._do_neighbours_page, ref, direction, types, after, limit, properties)

    def k_hop(
        self,
        ref: NodeRef,
        *,
        k: int,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
        limit: int | None = None,
        properties: bool = True,
        last_labels: Sequence[str] | None = None,
    ) -> list[Hop]:
        """Distinct nodes reachable in 1..k edges (not the start), with their shortest depth;
        ordered by (depth, label, key).

        ``last_labels``: at depth ``k`` only nodes of these labels are returned (and counted by
        ``limit``); nearer nodes whatever their label. The walk is the same (nothing is reached
        through a node at depth k), so the answer is the unfiltered one without the other labels'
        nodes at depth k, whenever those sort after the kept ones (e.g. graph-aware retrieval's
        documents within 2 edges and entities within 1, without fetching the many entities 2
        edges away). None: every label."""
        validation.bounded_int(k, what="k", low=1, high=self.features.max_depth)
        limit = graph_input.check_limit(limit)
        properties = graph_input.check_flag(properties, "properties")
        last = graph_input.check_node_labels(last_labels, "last_labels")
        ref, types = self._traversal(ref, direction, edge_types)
        return self._run(self._do_k_hop, ref, k, direction, types, limit, properties, last)

    def shortest_path(
        self,
        source: NodeRef,
        target: NodeRef,
        *,
        max_depth: int = 6,
        direction: Direction = "out",
        edge_types: Sequence[str] | None = None,
        properties: bool = True,
    ) -> Path | None:
        """A shortest path of at most ``max_depth`` edges (edges keep their real direction).

        A search that would follow more than ``settings.STRATA_GRAPH_MAX_WORK`` edges stops with
        TraversalTooLarge (narrow it: fewer edge types, a smaller ``max_depth``)."""
        validation.bounded_int(max_depth, what="max_depth", low=1, high=self.features.max_depth)
        properties = graph_input.check_flag(properties, "properties")
        source, types = self._traversal(source, direction, edge_types, what="source node")
        target = graph_input.check_ref(target, "target node")
        self._require([target.label])
        budget = validation.bounded_int(
            settings.STRATA_GRAPH_MAX_WORK, what="STRATA_GRAPH_MAX_WORK", low=1, high=graph_input.MAX_LIMIT
        )
        return self._run(self._do_shortest_path, source, target, max_depth, direction, types, budget, properties)

    def subgraph(
        self,
        ref: NodeRef,
        *,
        depth: int = 1,
        direction: Direction = "both",
        edge_types: Sequence[str] | None = None,
        limit: int = 500,
        properties: bool = True,
    ) -> Subgraph:
        """The start node first, then up to ``limit - 1`` nodes within ``depth`` edges ordered by
        (depth, label, key), and every edge (of the allowed types) among them, ordered by
        (type, source, target)."""
        validation.bounded_int(depth, what="depth", low=1, high=self.features.max_depth)
        validation.bounded_int(limit, what="limit", low=1, high=graph_input.MAX_LIMIT)
        properties = graph_input.check_flag(properties, "properties")
        ref, types = self._traversal(ref, direction, edge_types)
        return self._run(self._do_subgraph, ref, depth, direction, types, limit, properties)

    # ------------------------------------------------------------ scans and counts

    def scan_nodes(
        self, label: str, *, where: filters.Filter | None = None, after: str | None = None, limit: int = 1000
    ) -> Page[Node]:
        """The label's nodes matching ``where`` (on their properties), ordered by key, a page at a time."""
        graph_input.validate_label(label)
        condition = self._node_filter(where)
        limit = validation.bounded_int(limit, what="limit", low=1, high=MAX_SCAN_PAGE)
        self._require([label])
        return self._run(self._do_scan_nodes, label, condition, check_cursor(after), limit)

    def scan_edges(self, edge_type: str, *, after: str | None = None, limit: int = 1000) -> Page[Edge]:
        """The type's edges, a page at a time in the store's stable order."""
        graph_input.validate_label(edge_type)
        limit = validation.bounded_int(limit, what="limit", low=1, high=MAX_SCAN_PAGE)
        self._require([], [edge_type])
        return self._run(self._do_scan_edges, edge_type, check_cursor(after), limit)

    def count_nodes(self, label: str | None = None, *, where: filters.Filter | None = None) -> int:
        """Nodes of ``label`` (all labels when None) matching ``where``."""
        if label is not None:
            graph_input.validate_label(label)
            self._require([label])
        return self._run(self._do_count_nodes, label, self._node_filter(where))

    def count_edges(self, edge_type: str | None = None) -> int:
        if edge_type is not None:
            graph_input.validate_label(edge_type)
            self._require([], [edge_type])
        return self._run(self._do_count_edges, edge_type)

    # ------------------------------------------------------------ cypher (optional)

    def cypher(
        self,
        query: str,
        params: Mapping[str, Any] | None = None,
        *,
        columns: Sequence[str] = ("result",),
        read_only: bool = False,
        max_rows: int | None = None,
    ) -> list[dict[str, Any]]:
        """Run a Cypher query with ``$name`` parameters (never format values into the text); one
        dict per row keyed by ``columns``. Values come back neutral: ``Node``, ``Edge``, ``Path``
        (nodes and edges), lists, dicts and JSON scalars. Only where ``features.supports_cypher``.
        ``read_only``: the engine refuses a write (FalkorDB: ``GRAPH.RO_QUERY``; AGE: the query
        runs in a READ ONLY transaction, or, nested in a read-write one, is refused by the
        caller, see ``knowledge/console.py``). ``max_rows``: at most that many rows are read and
        converted (AGE stops the query there), whatever the query returns."""
        if not self.features.supports_cypher:
            raise NotSupported(f"{type(self).__name__} does not run Cypher")
        names = graph_input.check_columns(columns)
        query = graph_input.check_cypher(query)
        arguments = graph_input.properties_json(params, what="cypher params")
        if max_rows is not None:
            max_rows = validation.bounded_int(max_rows, what="max_rows", low=1, high=10**9)
        return self._run(self._do_cypher, query, arguments, names, read_only=bool(read_only), max_rows=max_rows)

    # ------------------------------------------------------------ helpers

    def _require(self, labels: Iterable[str] = (), edge_types: Iterable[str] = ()) -> None:
        self._run(self._do_require, list(dict.fromkeys(labels)), list(dict.fromkeys(edge_types)))

    def _traversal(
        self, ref: Any, direction: Any, edge_types: Any, *, what: str = "start node"
    ) -> tuple[NodeRef, list[str] | None]:
        ref = graph_input.check_ref(ref, what)
        graph_input.check_direction(direction)
        types = graph_input.check_edge_types(edge_types)
        self._require([ref.label], types or ())
        return ref, types

    def _node_filter(self, where: Any) -> filters.Filter | None:
        if where is None:
            return None
        condition = filters.check_filter(where)
        if not self.features.supports_nested_filter_paths and any(len(p) > 1 for p in filters.paths(condition)):
            raise NotSupported(f"{type(self).__name__} filters on top-level node properties only")
        return condition

    # ------------------------------------------------------------ hooks

    @abstractmethod
    def _do_define(self, label: str, kind: str) -> None:
        """Create the label (``kind`` NODE) or edge type (EDGE); InvalidInput when the name is
        taken by the other kind."""

    @abstractmethod
    def _do_labels(self, kind: str) -> list[str]: ...

    @abstractmethod
    def _do_require(self, labels: list[str], edge_types: list[str]) -> None:
        """UnknownLabel naming the first undefined label / edge type."""

    @abstractmethod
    def _do_upsert_node(self, label: str, key: str, properties: str) -> None: ...

    @abstractmethod
    def _do_upsert_edge(self, edge_type: str, source: NodeRef, target: NodeRef, properties: str) -> None:
        """NodeNotFound naming the missing end (nothing written)."""

    @abstractmethod
    def _do_bulk_load(self, batch: graph_input.Batch) -> None: ...

    @abstractmethod
    def _do_delete_node(self, ref: NodeRef) -> bool: ...

    @abstractmethod
    def _do_delete_nodes(self, label: str, condition: filters.Filter) -> int: ...

    @abstractmethod
    def _do_delete_edge(self, edge_type: str, source: NodeRef, target: NodeRef) -> bool: ...

    @abstractmethod
    def _do_get_node(self, ref: NodeRef) -> Node | None: ...

    @abstractmethod
    def _do_neighbours(
        self, ref: NodeRef, direction: str, types: list[str] | None, limit: int | None, properties: bool
    ) -> list[Node]:
        """NodeNotFound when the start does not exist; nodes without properties unless ``properties``."""

    @abstractmethod
    def _do_neighbours_page(
        self, ref: NodeRef, direction: str, types: list[str] | None, after: str | None, limit: int, properties: bool
    ) -> Page[Node]:
        """InvalidInput when ``after`` is not a cursor this store made."""

    @abstractmethod
    def _do_k_hop(
        self,
        ref: NodeRef,
        k: int,
        direction: str,
        types: list[str] | None,
        limit: int | None,
        properties: bool,
        last_labels: list[str] | None = None,
    ) -> list[Hop]:
        """``last_labels``: the node labels kept at depth k (None: all; names may be unknown)."""

    @abstractmethod
    def _do_shortest_path(
        self,
        source: NodeRef,
        target: NodeRef,
        max_depth: int,
        direction: str,
        types: list[str] | None,
        budget: int,
        properties: bool,
    ) -> Path | None:
        """TraversalTooLarge when the search would follow more than ``budget`` edges."""

    @abstractmethod
    def _do_subgraph(
        self, ref: NodeRef, depth: int, direction: str, types: list[str] | None, limit: int, properties: bool
    ) -> Subgraph: ...

    @abstractmethod
    def _do_scan_nodes(
        self, label: str, condition: filters.Filter | None, after: str | None, limit: int
    ) -> Page[Node]: ...

    @abstractmethod
    def _do_scan_edges(self, edge_type: str, after: str | None, limit: int) -> Page[Edge]: ...

    @abstractmethod
    def _do_count_nodes(self, label: str | None, condition: filters.Filter | None) -> int: ...

    @abstractmethod
    def _do_count_edges(self, edge_type: str | None) -> int: ...

    def _do_cypher(
        self, query: str, params: str, columns: list[str], *, read_only: bool = False, max_rows: int | None = None
    ) -> list[dict[str, Any]]:
        raise NotSupported(f"{type(self).__name__} does not run Cypher")
