"""The FalkorDB adapter's plumbing: the client, queries, the schema registry and error mapping.

* ``url=`` (``redis://``, ``rediss://``, ``falkor://`` or ``unix://``) names a FalkorDB server;
  without it the embedded one under ``STRATA_DATA_DIR`` (``core.embedded.falkordb.ensure_falkordb``) is
  started on first use, unless ``STRATA_EMBEDDED_AUTOSTART=0``.
* Queries never format values into their text: labels, edge types and property names are
  checked by a strict identifier pattern and backticked; everything else is a ``$parameter``.
* Declared labels and edge types live in a hash next to the graph
  (``strata:graph-schema:<graph>``); a node label gets a range index and a unique constraint on
  ``key`` when it is declared, and an edge type is created in FalkorDB's schema (a ``MERGE``
  planned before its type exists duplicates the edge a concurrent writer created first).
* The client (a redis-py connection pool) is created lazily and again in a forked process.
"""

from __future__ import annotations

import os
import re
from typing import Any

import falkordb
import redis
from django.conf import settings
from falkordb.exceptions import SchemaVersionMismatchException

from core import embedded
from core.embedded.falkordb import ensure_falkordb, falkordb_running
from core.storage.ports import GraphFeatures, GraphStore, InvalidInput, InvalidName, NodeNotFound, NodeRef, UnknownLabel
from core.storage.ports.errors import StorageError, StoreUnavailable
from core.storage.ports.graph import EDGE, NODE

MAX_DEPTH = 10
_GRAPH_NAME = re.compile(r"[A-Za-z0-9_]{1,100}")
KIND_NAMES = {NODE: "node label", EDGE: "edge type"}


def quoted(name: str) -> str:
    """A label, edge type or property name for the query text (already checked by the pattern)."""
    return f"`{name}`"


class FalkorBase(GraphStore):
    def __init__(self, graph: str | None = None, url: str | None = None, timeout: float = 30.0) -> None:
        name = graph if graph is not None else settings.STRATA_GRAPH_NAME
        if not isinstance(name, str) or not _GRAPH_NAME.fullmatch(name):
            raise InvalidName(f"invalid graph name {name!r}: use 1-100 letters, digits or _")
        self.graph = name
        self.url = url or None
        self.timeout = timeout
        self.features = GraphFeatures(
            joins_db_transaction=False,
            vendor="falkordb",
            supports_cypher=True,
            max_depth=MAX_DEPTH,
            supports_nested_filter_paths=False,
            atomic_bulk_load=False,
        )
        self._db: falkordb.FalkorDB | None = None
        self._graph: Any = None
        self._pid = 0
        self._known: set[tuple[str, str]] = set()  # (name, kind) seen declared

    def __repr__(self) -> str:
        return f"{type(self).__name__}(graph={self.graph!r}, url={'embedded' if self.url is None else 'set'})"

    # ------------------------------------------------------------ client

    def _client(self) -> falkordb.FalkorDB:
        if self._db is None or self._pid != os.getpid():  # a forked process makes its own
            if self.url is not None:
                self._db = falkordb.FalkorDB.from_url(
                    self.url, socket_timeout=self.timeout, socket_connect_timeout=min(self.timeout, 5.0)
                )
            else:
                if not embedded.autostart_enabled() and not falkordb_running():
                    raise StoreUnavailable("the embedded FalkorDB is not running (STRATA_EMBEDDED_AUTOSTART=0)")
                socket_path = ensure_falkordb()
                self._db = falkordb.FalkorDB(unix_socket_path=socket_path, socket_timeout=self.timeout)
            self._graph = self._db.select_graph(self.graph)
            self._pid = os.getpid()
        return self._db

    @property
    def _redis(self) -> redis.Redis:
        return self._client().connection

    def _query(self, query: str, params: dict[str, Any] | None = None, *, read_only: bool = False) -> Any:
        """Run a query (retried once when the client's view of the schema is stale);
        ``read_only``: ``GRAPH.RO_QUERY``, which refuses any write."""
        self._client()
        run = self._graph.ro_query if read_only else self._graph.query
        try:
            return run(query, params)
        except SchemaVersionMismatchException:
            return run(query, params)

    def _rows(self, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        return self._query(query, params).result_set

    def _do_close(self) -> None:
        if self._db is not None and self._pid == os.getpid():
            self._db.connection.connection_pool.disconnect()
        self._db = self._graph = None

    def _map_error(self, error: Exception) -> StorageError | None:
        if isinstance(error, redis.ConnectionError | redis.TimeoutError | ConnectionError | TimeoutError):
            return StoreUnavailable(f"FalkorDB graph {self.graph!r} is unavailable: {error}")
        if isinstance(error, redis.BusyLoadingError):
            return StoreUnavailable(f"FalkorDB is loading its data: {error}")
        return None

    # ------------------------------------------------------------ schema registry

    @property
    def _schema_key(self) -> str:
        return f"strata:graph-schema:{self.graph}"

    def graph_exists(self) -> bool:
        return self.graph in self._client().list_graphs() or bool(self._redis.exists(self._schema_key))

    def drop_graph(self) -> None:
        """Delete the graph and its declared labels (adapter-specific; not part of the port)."""
        if self.graph in self._client().list_graphs():
            self._graph.delete()
        self._redis.delete(self._schema_key)
        self._known.clear()

    def _do_define(self, label: str, kind: str) -> None:
        if (label, kind) in self._known:
            return
        existing = self._redis.hget(self._schema_key, label)
        if existing is not None and existing != kind:
            raise InvalidInput(f"{label!r} is already a {KIND_NAMES[existing]} in graph {self.graph!r}")
        if kind == NODE:
            self._ensure_key_index(label)
        else:
            self._ensure_edge_type(label)
        if existing is None and not self._redis.hsetnx(self._schema_key, label, kind):
            existing = self._redis.hget(self._schema_key, label)
            if existing != kind:
                raise InvalidInput(f"{label!r} is already a {KIND_NAMES[existing]} in graph {self.graph!r}")
        self._known.add((label, kind))

    def _ensure_key_index(self, label: str) -> None:
        """A range index on ``key`` and a unique constraint (idempotent)."""
        try:
            self._query(f"CREATE INDEX FOR (n:{quoted(label)}) ON (n.key)")
        except redis.ResponseError as error:
            if "already indexed" not in str(error):
                raise
        try:
            self._redis.execute_command(
                "GRAPH.CONSTRAINT", "CREATE", self.graph, "UNIQUE", "NODE", label, "PROPERTIES", 1, "key"
            )
        except redis.ResponseError as error:
            if "already exists" not in str(error).lower():
                raise

    def _ensure_edge_type(self, edge_type: str) -> None:
        """Make FalkorDB know the relationship type before any edge of it is written.

        FalkorDB learns a type from its first edge, and a query is planned before it waits for
        the graph's writer: a ``MERGE (a)-[r:T]->(b)`` planned while ``T`` does not exist yet
        cannot match the edge that a concurrent writer creates first, so it creates a second,
        parallel one. Creating the type here (one edge between two unlabelled nodes, deleted by
        the same query) means every later plan knows it (idempotent)."""
        known = {row[0] for row in self._rows("CALL db.relationshipTypes()")}
        if edge_type not in known:
            self._query(f"CREATE (a)-[:{quoted(edge_type)}]->(b) DELETE a, b")

    def _do_labels(self, kind: str) -> list[str]:
        return [name for name, value in self._redis.hgetall(self._schema_key).items() if value == kind]

    def _do_require(self, labels: list[str], edge_types: list[str]) -> None:
        wanted = [(name, NODE) for name in labels] + [(name, EDGE) for name in edge_types]
        unknown = [pair for pair in wanted if pair not in self._known]
        if not unknown:
            return
        names = [name for name, _ in unknown]
        kinds = dict(zip(names, self._redis.hmget(self._schema_key, names), strict=True))
        for name, kind in unknown:
            if kinds.get(name) != kind:
                found = f" (it is a {KIND_NAMES[kinds[name]]})" if kinds.get(name) else ""
                define = "define_node_label" if kind == NODE else "define_edge_type"
                raise UnknownLabel(
                    f"{KIND_NAMES[kind]} {name!r} is not defined in graph {self.graph!r}{found}; "
                    f"call {define}({name!r}) first"
                )
            self._known.add((name, kind))

    def _node_id(self, ref: NodeRef, what: str = "node") -> int:
        rows = self._rows(f"MATCH (n:{quoted(ref.label)} {{key: $key}}) RETURN id(n)", {"key": ref.key})
        if not rows:
            raise NodeNotFound(f"{what} {ref.label}:{ref.key!r} does not exist in graph {self.graph!r}")
        return rows[0][0]
