"""The AGE adapter's plumbing: its connection, its tables, and which labels exist."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from core.locks import advisory_xact_lock
from core.storage.ports import GraphFeatures, GraphStore, NodeNotFound, NodeRef, UnknownLabel
from core.storage.ports.errors import StorageError
from core.storage.postgres.age.schema import validate_graph_name
from core.storage.postgres.errors import map_database_error

VERTEX, EDGE = "v", "e"
KIND_NAMES = {VERTEX: "node label", EDGE: "edge type"}
KEY_EXPRESSION = sql.SQL("""ag_catalog.agtype_access_operator(VARIADIC ARRAY[{}, '"key"'::ag_catalog.agtype])""")
AGTYPE_PARAM = sql.SQL("%s::text::ag_catalog.agtype")
MAX_DEPTH = 10  # deepest k_hop / subgraph / shortest_path the adapter accepts


class AgeBase(GraphStore):
    """The connection plumbing every part of the adapter shares: SQL on the graph's tables through
    ``django.db.connections[using]`` (so the caller's transaction), and label lookups."""

    def __init__(self, graph: str | None = None, using: str = DEFAULT_DB_ALIAS) -> None:
        self.graph = validate_graph_name(graph if graph is not None else settings.STRATA_GRAPH_NAME)
        self.using = using
        self.features = GraphFeatures(
            joins_db_transaction=using == DEFAULT_DB_ALIAS,
            vendor="postgresql",
            supports_cypher=True,
            max_depth=MAX_DEPTH,
            supports_nested_filter_paths=True,
            atomic_bulk_load=True,
        )

    def _map_error(self, error: Exception) -> StorageError | None:
        return map_database_error(error, self.using)

    # ------------------------------------------------------------ plumbing

    @property
    def _connection(self) -> Any:
        return connections[self.using]

    def _sql(self, query: sql.Composable) -> str:
        self._connection.ensure_connection()
        return query.as_string(self._connection.connection)

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.graph, name)

    def _execute(self, query: sql.Composable, params: Sequence[Any] = ()) -> list[tuple]:
        with self._connection.cursor() as cursor:
            cursor.execute(self._sql(query), params)
            return cursor.fetchall() if cursor.description else []

    @staticmethod
    def _key_of(alias: str | None = None) -> sql.Composable:
        """The node key expression (matches the unique index when ``alias`` is None)."""
        return KEY_EXPRESSION.format(sql.Identifier(alias, "properties") if alias else sql.Identifier("properties"))

    def _find(self, ref: NodeRef) -> sql.Composable:
        """``SELECT id`` of the node ``ref`` (one parameter: the JSON key); uses the key index."""
        return sql.SQL("SELECT id FROM {} WHERE {} = {}").format(self._table(ref.label), self._key_of(), AGTYPE_PARAM)

    def _kinds(self, names: Iterable[str]) -> dict[str, str]:
        rows = self._execute(
            sql.SQL(
                "SELECT l.name::text, l.kind FROM ag_catalog.ag_label l JOIN ag_catalog.ag_graph g "
                "ON g.graphid = l.graph WHERE g.name = %s AND l.name = ANY(%s::text[])"
            ),
            [self.graph, list(names)],
        )
        return dict(rows)

    def _do_require(self, labels: list[str], edge_types: list[str]) -> None:
        """Raise UnknownLabel unless each name is a defined node label / edge type respectively."""
        wanted = [(name, VERTEX) for name in labels] + [(name, EDGE) for name in edge_types]
        if not wanted:
            return
        kinds = self._kinds({name for name, _ in wanted})
        for name, kind in wanted:
            if kinds.get(name) != kind:
                found = f" (it is a {KIND_NAMES[kinds[name]]})" if name in kinds else ""
                define = "define_node_label" if kind == VERTEX else "define_edge_type"
                raise UnknownLabel(
                    f"{KIND_NAMES[kind]} {name!r} is not defined in graph {self.graph!r}{found}; "
                    f"call {define}({name!r}) first"
                )

    def _lock(self) -> None:
        """Serialise schema changes of this graph (transaction-scoped advisory lock)."""
        advisory_xact_lock(f"strata.graph:{self.graph}", using=self.using)

    def _node_id(self, ref: NodeRef, what: str = "node") -> str:
        rows = self._execute(self._find(ref), [json.dumps(ref.key)])
        if not rows:
            raise NodeNotFound(f"{what} {ref.label}:{ref.key!r} does not exist in graph {self.graph!r}")
        return rows[0][0]

    def _refs_by_id(self, ids: Sequence[str] | set[str]) -> dict[str, NodeRef]:
        """(label, key) of vertices by graphid."""
        if not ids:
            return {}
        rows = self._execute(
            sql.SQL(
                "SELECT v.id::text, l.name::text, ({key})::text FROM {vertices} v "
                "JOIN ag_catalog.ag_label l ON l.relation = v.tableoid WHERE v.id = ANY(%s::text[]::graphid[])"
            ).format(key=self._key_of("v"), vertices=self._table("_ag_label_vertex")),
            [list(ids)],
        )
        return {gid: NodeRef(label, "" if key is None else key) for gid, label, key in rows}
