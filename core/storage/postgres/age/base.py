"""The AGE adapter's plumbing: its connection, its tables, its label catalogue (in memory,
``catalogue.py``) and the fast path of its reads (server-side bound, prepared statements)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg import sql

from core.locks import advisory_xact_lock
from core.storage.ports import GraphFeatures, GraphStore, NodeNotFound, NodeRef, UnknownLabel
from core.storage.ports.errors import StorageError
from core.storage.postgres.age.catalogue import CATALOGUES, EDGE, VERTEX, Catalogue, load_sql, version_sql
from core.storage.postgres.age.schema import validate_graph_name
from core.storage.postgres.errors import map_database_error

KIND_NAMES = {VERTEX: "node label", EDGE: "edge type"}
KEY_EXPRESSION = sql.SQL("""ag_catalog.agtype_access_operator(VARIADIC ARRAY[{}, '"key"'::ag_catalog.agtype])""")
AGTYPE_PARAM = sql.SQL("%s::text::ag_catalog.agtype")
MAX_DEPTH = 10  # deepest k_hop / subgraph / shortest_path the adapter accepts
#: psycopg prepares a server-side statement after this many executions of the same query text
PREPARE_THRESHOLD = 2
_UNDEFINED_TABLE = "42P01"


class AgeBase(GraphStore):
    """The connection plumbing every part of the adapter shares: SQL on the graph's tables through
    ``django.db.connections[using]`` (so the caller's transaction), and the label catalogue."""

    def __init__(self, graph: str | None = None, using: str = DEFAULT_DB_ALIAS, prepare: bool = True) -> None:
        self.graph = validate_graph_name(graph if graph is not None else settings.STRATA_GRAPH_NAME)
        self.using = using
        self.prepare = bool(prepare)
        self.features = GraphFeatures(
            joins_db_transaction=using == DEFAULT_DB_ALIAS,
            vendor="postgresql",
            supports_cypher=True,
            max_depth=MAX_DEPTH,
            supports_nested_filter_paths=True,
            atomic_bulk_load=True,
        )
        self._statements: dict[Any, str] = {}  # composed SQL text by what it is for

    def _map_error(self, error: Exception) -> StorageError | None:
        cause = error.__cause__ if isinstance(error.__cause__, psycopg.Error) else error
        if getattr(cause, "sqlstate", None) == _UNDEFINED_TABLE:
            # a label dropped since the catalogue was read (by drop_graph, another process, a rollback)
            self._forget_catalogue()
            return UnknownLabel(f"a label or edge type of graph {self.graph!r} no longer exists: {cause}")
        return map_database_error(error, self.using)

    # ------------------------------------------------------------ plumbing

    @property
    def _connection(self) -> Any:
        return connections[self.using]

    def _sql(self, query: sql.Composable) -> str:
        self._connection.ensure_connection()
        return query.as_string(self._connection.connection)

    def _statement(self, key: Any, build: Any) -> str:
        """The SQL text for ``key``, composed by ``build()`` once per store instance."""
        text = self._statements.get(key)
        if text is None:
            text = self._statements[key] = self._sql(build())
        return text

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.graph, name)

    def _execute(self, query: sql.Composable, params: Sequence[Any] = ()) -> list[tuple]:
        with self._connection.cursor() as cursor:
            cursor.execute(self._sql(query), params)
            return cursor.fetchall() if cursor.description else []

    def _fetch(self, text: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple]:
        """One read on the hot path: psycopg with server-side binding on Django's connection (the
        same session and transaction), prepared after PREPARE_THRESHOLD runs so PostgreSQL plans
        it once, not on every call (planning was three quarters of a 1-hop). Errors are raised
        as Django's; the query is logged where Django logs queries (``CaptureQueriesContext``)."""
        wrapper = self._connection
        wrapper.ensure_connection()
        raw = wrapper.connection
        if self.prepare and raw.prepare_threshold is None:
            raw.prepare_threshold = PREPARE_THRESHOLD  # Django's own (client-side bound) cursors never prepare
        started = time.monotonic()
        with wrapper.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            cursor.execute(text, params, prepare=None if self.prepare else False)
            rows = cursor.fetchall() if cursor.description else []
        if wrapper.queries_logged:
            wrapper.queries_log.append({"sql": text, "time": f"{time.monotonic() - started:.3f}"})
        return rows

    @staticmethod
    def _key_of(alias: str | None = None) -> sql.Composable:
        """The node key expression (matches the unique index when ``alias`` is None)."""
        return KEY_EXPRESSION.format(sql.Identifier(alias, "properties") if alias else sql.Identifier("properties"))

    def _find(self, ref: NodeRef) -> sql.Composable:
        """``SELECT id`` of the node ``ref`` (one parameter: the JSON key); uses the key index."""
        return sql.SQL("SELECT id FROM {} WHERE {} = {}").format(self._table(ref.label), self._key_of(), AGTYPE_PARAM)

    # ------------------------------------------------------------ the label catalogue

    @property
    def _catalogue_key(self) -> tuple[str, ...]:
        settings_dict = self._connection.settings_dict
        return (str(settings_dict.get("HOST")), str(settings_dict.get("PORT")), str(settings_dict["NAME"]), self.graph)

    def _catalogue(self) -> Catalogue:
        catalogue = CATALOGUES.get(self._catalogue_key)
        return catalogue if catalogue is not None else self._reload_catalogue()

    def _reload_catalogue(self) -> Catalogue:
        catalogue = Catalogue.from_rows(self._execute(load_sql(self.graph)))
        CATALOGUES.put(self._catalogue_key, catalogue)
        return catalogue

    def _verified_catalogue(self) -> Catalogue:
        """The catalogue checked against the database's version (one small query), while labels
        created by a transaction that has not committed may still be rolled back."""
        [(version,)] = self._execute(sql.SQL("SELECT {}").format(self._version_sql()))
        catalogue = self._catalogue()
        if version != catalogue.version:
            catalogue = self._reload_catalogue()
        if not self._connection.in_atomic_block:  # what it saw is committed
            CATALOGUES.clear_pending(self._catalogue_key)
        return catalogue

    def _labels_created(self, in_transaction: bool) -> None:
        """After creating labels: read the catalogue again on next use, and until the caller's
        transaction commits, check it before each use (a rollback drops the new tables)."""
        self._forget_catalogue()
        if in_transaction:
            key = self._catalogue_key
            CATALOGUES.mark_pending(key)
            transaction.on_commit(lambda: CATALOGUES.clear_pending(key), using=self.using)

    def _forget_catalogue(self) -> None:
        CATALOGUES.forget(self._catalogue_key)

    def _version_sql(self) -> sql.Composable:
        return version_sql(self.graph)

    def _check_version(
        self, version: str | None, labels: Iterable[str] = (), edge_types: Iterable[str] = ()
    ) -> Catalogue:
        """The catalogue for a result read at ``version``: reloaded (and the call's names checked
        again) when the graph's labels changed since it was read."""
        catalogue = self._catalogue()
        if version != catalogue.version:
            catalogue = self._reload_catalogue()
            self._check(catalogue, list(labels), list(edge_types))
        return catalogue

    def _kinds(self, names: Iterable[str]) -> dict[str, str]:
        kinds = self._reload_catalogue().kinds
        return {name: kinds[name] for name in names if name in kinds}

    def _do_require(self, labels: list[str], edge_types: list[str]) -> None:
        """Raise UnknownLabel unless each name is a defined node label / edge type respectively
        (from memory; the catalogue is read again before a name is refused)."""
        if not labels and not edge_types:
            return
        catalogue = self._catalogue()
        if CATALOGUES.is_pending(self._catalogue_key):
            catalogue = self._verified_catalogue()
        if not self._known(catalogue, labels, edge_types):
            self._check(self._reload_catalogue(), labels, edge_types)

    @staticmethod
    def _known(catalogue: Catalogue, labels: list[str], edge_types: list[str]) -> bool:
        kinds = catalogue.kinds
        return all(kinds.get(name) == VERTEX for name in labels) and all(kinds.get(name) == EDGE for name in edge_types)

    def _check(self, catalogue: Catalogue, labels: list[str], edge_types: list[str]) -> None:
        wanted = [(name, VERTEX) for name in labels] + [(name, EDGE) for name in edge_types]
        for name, kind in wanted:
            found = catalogue.kinds.get(name)
            if found != kind:
                also = f" (it is a {KIND_NAMES[found]})" if found else ""
                define = "define_node_label" if kind == VERTEX else "define_edge_type"
                raise UnknownLabel(
                    f"{KIND_NAMES[kind]} {name!r} is not defined in graph {self.graph!r}{also}; "
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
