"""Bulk loads into the AGE label tables: validated, de-duplicated, set-based, all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from django.conf import settings
from django.db import transaction
from psycopg import sql

from core.storage.ports import BulkLoadResult, Edge, InvalidInput, Node, NodeNotFound, NodeRef
from core.storage.postgres.age.base import AgeBase
from core.storage.postgres.age.schema import validate_label
from core.storage.postgres.age.values import REF_TYPES, check_key, properties_json

_TEMP_TABLES = "pg_temp.strata_graph_nodes, pg_temp.strata_graph_endpoints, pg_temp.strata_graph_edges"


class _Batch:
    """The validated, de-duplicated input of one ``bulk_load`` (a later duplicate wins).

    Edge endpoints are numbered (``endpoints``): each distinct one is validated and resolved once."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, str]] = {}  # label -> key -> properties JSON (with the key)
        self.endpoints: dict[tuple[str, str], int] = {}  # (label, key) -> number
        self.edges: dict[tuple[str, int, int], str] = {}  # (type, source no., target no.) -> properties JSON
        self._labels: set[str] = set()  # names already validated
        self._limit = settings.STRATA_MAX_METADATA_BYTES

    def add_nodes(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            if not isinstance(node, Node):
                raise InvalidInput(f"bulk_load nodes must be Node objects, got {type(node).__name__}")
            label, key = self._label(node.label), check_key(node.key)
            self.nodes.setdefault(label, {})[key] = properties_json(node.properties, node_key=key, limit=self._limit)

    def add_edges(self, edges: Iterable[Edge]) -> None:
        for edge in edges:
            if not isinstance(edge, Edge):
                raise InvalidInput(f"bulk_load edges must be Edge objects, got {type(edge).__name__}")
            key = (self._label(edge.type), self._endpoint(edge.source), self._endpoint(edge.target))
            self.edges[key] = properties_json(edge.properties, limit=self._limit)

    def _endpoint(self, ref: NodeRef) -> int:
        """The number of an edge endpoint (validated the first time it is seen)."""
        if not isinstance(ref, REF_TYPES):
            raise InvalidInput(f"edge endpoints must be NodeRefs, got {type(ref).__name__}")
        try:
            return self.endpoints[(ref.label, ref.key)]
        except (KeyError, TypeError):
            pair = (self._label(ref.label), check_key(ref.key))
            return self.endpoints.setdefault(pair, len(self.endpoints))

    def _label(self, name: str) -> str:
        if not (isinstance(name, str) and name in self._labels):
            self._labels.add(validate_label(name))
        return name

    def vertex_labels(self) -> list[str]:
        return sorted(set(self.nodes) | {label for label, _ in self.endpoints})

    def edge_types(self) -> list[str]:
        return sorted({edge_type for edge_type, _, _ in self.edges})


class BulkLoadMixin(AgeBase):
    """``bulk_load``: set-based upserts through COPY into temporary tables."""

    def bulk_load(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = ()) -> BulkLoadResult:
        """Upsert many nodes, then many edges, set-based and all-or-nothing.

        Everything is validated first. Nodes are COPYed into a temporary table and upserted with
        one ``INSERT ... SELECT ... ON CONFLICT`` per label. The distinct edge endpoints are
        COPYed and resolved to vertex ids with one join per label; edges are COPYed with those
        ids and inserted with one ``INSERT ... SELECT ... ON CONFLICT (start_id, end_id)`` per type.
        A missing endpoint raises NodeNotFound and the savepoint undoes everything.
        """
        batch = _Batch()
        batch.add_nodes(nodes)
        batch.add_edges(edges)
        if not batch.nodes and not batch.edges:
            return BulkLoadResult(nodes=0, edges=0)
        self._require(batch.vertex_labels(), batch.edge_types())
        with transaction.atomic(using=self.using), self._connection.wrap_database_errors:
            # psycopg's COPY on Django's own connection: the same session and transaction (its
            # errors raised as Django's, like every other query: e.g. OperationalError when the
            # server ends the connection)
            with self._connection.connection.cursor() as cursor:
                self._load_nodes(cursor, batch)
                self._load_edges(cursor, batch)
                cursor.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLES}")
        return BulkLoadResult(nodes=sum(len(rows) for rows in batch.nodes.values()), edges=len(batch.edges))

    def _load_nodes(self, cursor: psycopg.Cursor, batch: _Batch) -> None:
        if not batch.nodes:
            return
        cursor.execute("CREATE TEMP TABLE strata_graph_nodes (label text, props text) ON COMMIT DROP")
        with cursor.copy("COPY strata_graph_nodes (label, props) FROM STDIN") as copy:
            for label, rows in batch.nodes.items():
                for text in rows.values():
                    copy.write_row((label, text))
        for label in batch.nodes:
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} (properties) SELECT props::ag_catalog.agtype FROM strata_graph_nodes "
                    "WHERE label = %s ON CONFLICT (({})) DO UPDATE SET properties = EXCLUDED.properties"
                ).format(self._table(label), self._key_of()),
                [label],
            )

    def _load_edges(self, cursor: psycopg.Cursor, batch: _Batch) -> None:
        if not batch.edges:
            return
        ids = self._resolve_endpoints(cursor, batch)
        cursor.execute(
            "CREATE TEMP TABLE strata_graph_edges (etype text, src graphid, dst graphid, props text) ON COMMIT DROP"
        )
        with cursor.copy("COPY strata_graph_edges (etype, src, dst, props) FROM STDIN") as copy:
            for (edge_type, source, target), text in batch.edges.items():
                copy.write_row((edge_type, ids[source], ids[target], text))
        for edge_type in batch.edge_types():
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} (start_id, end_id, properties) "
                    "SELECT src, dst, props::ag_catalog.agtype FROM strata_graph_edges WHERE etype = %s "
                    "ON CONFLICT (start_id, end_id) DO UPDATE SET properties = EXCLUDED.properties"
                ).format(self._table(edge_type)),
                [edge_type],
            )

    def _resolve_endpoints(self, cursor: psycopg.Cursor, batch: _Batch) -> list[str | None]:
        """The vertex id (graphid text) of every numbered endpoint, found with one join per label
        on the key index; NodeNotFound (before anything is written) if any is missing."""
        cursor.execute("CREATE TEMP TABLE strata_graph_endpoints (no int, label text, key text) ON COMMIT DROP")
        with cursor.copy("COPY strata_graph_endpoints (no, label, key) FROM STDIN") as copy:
            for (label, key), number in batch.endpoints.items():
                copy.write_row((number, label, key))
        ids: list[str | None] = [None] * len(batch.endpoints)
        for label in sorted({label for label, _ in batch.endpoints}):
            cursor.execute(
                sql.SQL(
                    "SELECT p.no, v.id::text FROM strata_graph_endpoints p "
                    "JOIN {} v ON {} = to_json(p.key)::text::ag_catalog.agtype WHERE p.label = %s"
                ).format(self._table(label), self._key_of("v")),
                [label],
            )
            for number, graph_id in cursor:
                ids[number] = graph_id
        missing = sorted(ref for ref, number in batch.endpoints.items() if ids[number] is None)
        if missing:
            shown = ", ".join(f"{label}:{key!r}" for label, key in missing[:5])
            raise NodeNotFound(
                f"edge endpoints do not exist in graph {self.graph!r}: {shown}"
                f"{' and more' if len(missing) > 5 else ''}; nothing was written"
            )
        return ids
