"""Bulk loads into the AGE label tables: validated, de-duplicated, set-based, all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from django.db import transaction
from psycopg import sql

from core.storage.graph_input import Batch, validate_label
from core.storage.ports import NodeNotFound
from core.storage.postgres.age.base import AgeBase

_TEMP_TABLES = "pg_temp.strata_graph_nodes, pg_temp.strata_graph_endpoints, pg_temp.strata_graph_edges"
KNOWN_ENDS = 1_000_000  # vertex ids a session keeps for load_query's ends (see _resolve_query_ends)
_QUERY_TABLES = "pg_temp.strata_graph_nodes, pg_temp.strata_graph_query_edges, pg_temp.strata_graph_query_ends"


class BulkLoadMixin(AgeBase):
    """``bulk_load``: set-based upserts through COPY into temporary tables."""

    def _do_bulk_load(self, batch: Batch) -> None:
        """Upsert many nodes, then many edges, set-based and all-or-nothing (the port validated
        everything first).

        Nodes are COPYed into a temporary table and upserted with one ``INSERT ... SELECT ... ON
        CONFLICT`` per label; a row whose properties did not change is not written at all (no
        new row version, so loading the same graph again leaves no dead rows). The distinct edge
        endpoints are COPYed and resolved to vertex ids
        with one join per label; edges are COPYed with those ids and inserted with one ``INSERT
        ... SELECT ... ON CONFLICT (start_id, end_id)`` per type. A missing endpoint raises
        NodeNotFound and the savepoint undoes everything.
        """
        with transaction.atomic(using=self.using), self._connection.wrap_database_errors:
            # psycopg's COPY on Django's own connection: the same session and transaction (its
            # errors raised as Django's, like every other query: e.g. OperationalError when the
            # server ends the connection)
            with self._connection.connection.cursor() as cursor:
                self._load_nodes(cursor, batch)
                self._load_edges(cursor, batch)
                cursor.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLES}")

    def load_query(self, *, nodes: str, edges: str, params: Mapping[str, Any]) -> tuple[int, int]:
        """Upsert the nodes and edges two queries of this database yield, set-based, without
        their rows leaving PostgreSQL (a store that shares the database: a projection composes
        the queries from its own tables, every value a bound parameter). ``nodes`` yields (label,
        properties as jsonb, with "key"), ``edges`` (edge type, source label, source key, target
        label, target key, properties as JSON text), each node and edge once; the labels and
        types must be defined. Written like ``bulk_load``: a row whose properties did not change
        is not written again; a missing endpoint raises NodeNotFound and undoes everything.
        Returns (nodes, edges) the queries yielded."""
        with transaction.atomic(using=self.using), self._connection.wrap_database_errors:
            with self._connection.connection.cursor() as cursor:
                cursor.execute("CREATE TEMP TABLE strata_graph_nodes (label text, props text) ON COMMIT DROP")
                cursor.execute(f"INSERT INTO strata_graph_nodes SELECT q.* FROM ({nodes}) q", params)  # noqa: S608
                node_count = cursor.rowcount
                cursor.execute("SELECT DISTINCT label FROM strata_graph_nodes")
                self._upsert_nodes(cursor, [validate_label(label) for (label,) in cursor.fetchall()])
                cursor.execute(
                    'CREATE TEMP TABLE strata_graph_query_edges (etype text, slabel text, skey text COLLATE "C", '
                    'elabel text, ekey text COLLATE "C", props text) ON COMMIT DROP'
                )
                cursor.execute(f"INSERT INTO strata_graph_query_edges SELECT q.* FROM ({edges}) q", params)  # noqa: S608
                edge_count = cursor.rowcount
                if edge_count:
                    self._resolve_query_ends(cursor)
                    cursor.execute(
                        "SELECT etype, slabel, elabel FROM strata_graph_query_edges GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
                    )
                    for edge_type, start, end in cursor.fetchall():
                        self._upsert_query_edges(cursor, *(validate_label(x) for x in (edge_type, start, end)))
                cursor.execute(f"DROP TABLE IF EXISTS {_QUERY_TABLES}")
        return node_count, edge_count

    def analyze(self, labels: Iterable[str]) -> None:
        """Refresh the planner's statistics of these labels' tables (after a bulk load, so the
        first traversals are planned from the loaded graph, not from autovacuum's last look);
        names that are not defined are skipped. Best outside a long transaction: ANALYZE's lock
        (which only conflicts with schema changes and other ANALYZEs) is held to its end."""
        kinds = self._kinds(labels)
        with self._connection.wrap_database_errors, self._connection.connection.cursor() as cursor:
            for label in sorted(kinds):
                cursor.execute(sql.SQL("ANALYZE {}").format(self._table(validate_label(label))))

    def _resolve_query_ends(self, cursor: psycopg.Cursor) -> None:
        """The vertex id of each distinct end of ``strata_graph_query_edges``; NodeNotFound if
        any is missing.

        An end this session resolved before (``strata_graph_known_ends``, a temporary table that
        lives as long as the session, at most ``KNOWN_ENDS`` rows) is taken from there when its
        label's table is the same one (a graph dropped and created again has new tables, whose
        ids start again) and a vertex with that id still exists there (a vertex is never given
        another key): a primary-key probe. Only the others are looked up on the key index,
        whose agtype comparisons cost several times more, and a batched import meets the same
        ends batch after batch. Rows of a transaction that rolls back leave the table with it."""
        cursor.execute(
            'CREATE TEMP TABLE IF NOT EXISTS strata_graph_known_ends (label text, key text COLLATE "C", tab oid, '
            "id graphid, "
            "PRIMARY KEY (label, key))"
        )
        cursor.execute(
            'CREATE TEMP TABLE strata_graph_query_ends (label text, key text COLLATE "C", tab oid, id graphid, '
            "known boolean) "
            "ON COMMIT DROP"
        )
        cursor.execute("SELECT slabel FROM strata_graph_query_edges UNION SELECT elabel FROM strata_graph_query_edges")
        for label in sorted(validate_label(label) for (label,) in cursor.fetchall()):
            table = self._table(label)
            cursor.execute(
                sql.SQL(
                    "INSERT INTO strata_graph_query_ends (label, key, tab, id, known) "
                    "SELECT %(label)s, d.key, {rel}::regclass, coalesce(d.known, ("
                    "  SELECT f.id FROM {table} f WHERE {key} = to_json(d.key)::text::ag_catalog.agtype"
                    ")), d.known IS NOT NULL "
                    "FROM (SELECT d.key, (SELECT v.id FROM {table} v WHERE v.id = k.id) AS known "
                    "  FROM (SELECT skey AS key FROM strata_graph_query_edges WHERE slabel = %(label)s "
                    "    UNION SELECT ekey FROM strata_graph_query_edges WHERE elabel = %(label)s) d "
                    "  LEFT JOIN strata_graph_known_ends k "
                    "    ON k.label = %(label)s AND k.key = d.key AND k.tab = {rel}::regclass "
                    "  OFFSET 0) d"
                ).format(table=table, rel=sql.Literal(table.as_string(cursor)), key=self._key_of("f")),
                {"label": label},
            )
        cursor.execute("ANALYZE strata_graph_query_ends")  # (the edges' joins on it: without, a nested loop)
        cursor.execute("SELECT count(*) FROM strata_graph_query_ends WHERE id IS NULL")
        (missing,) = cursor.fetchone()
        if missing:
            raise NodeNotFound(f"{missing} edge endpoints do not exist in graph {self.graph!r}; nothing was written")
        cursor.execute("SELECT count(*) >= %s FROM strata_graph_known_ends", [KNOWN_ENDS])
        if cursor.fetchone()[0]:
            cursor.execute("TRUNCATE strata_graph_known_ends")
        cursor.execute(
            "INSERT INTO strata_graph_known_ends (label, key, tab, id) "
            "SELECT label, key, tab, id FROM strata_graph_query_ends WHERE NOT known "
            "ON CONFLICT (label, key) DO UPDATE SET tab = EXCLUDED.tab, id = EXCLUDED.id"
        )

    def _upsert_query_edges(self, cursor: psycopg.Cursor, edge_type: str, start: str, end: str) -> None:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} AS t (start_id, end_id, properties) "
                "SELECT s.id, e.id, q.props::ag_catalog.agtype FROM strata_graph_query_edges q "
                "JOIN strata_graph_query_ends s ON s.label = q.slabel AND s.key = q.skey "
                "JOIN strata_graph_query_ends e ON e.label = q.elabel AND e.key = q.ekey "
                "WHERE q.etype = %s AND q.slabel = %s AND q.elabel = %s "
                "ON CONFLICT (start_id, end_id) DO UPDATE SET properties = EXCLUDED.properties "
                "WHERE t.properties IS DISTINCT FROM EXCLUDED.properties"
            ).format(self._table(edge_type)),
            [edge_type, start, end],
        )

    def _load_nodes(self, cursor: psycopg.Cursor, batch: Batch) -> None:
        if not batch.nodes:
            return
        cursor.execute("CREATE TEMP TABLE strata_graph_nodes (label text, props text) ON COMMIT DROP")
        with cursor.copy("COPY strata_graph_nodes (label, props) FROM STDIN") as copy:
            for label, rows in batch.nodes.items():
                for text in rows.values():
                    copy.write_row((label, text))
        self._upsert_nodes(cursor, list(batch.nodes))

    def _upsert_nodes(self, cursor: psycopg.Cursor, labels: list[str]) -> None:
        """Upsert the rows of ``strata_graph_nodes`` into their labels' tables."""
        for label in labels:
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} AS t (properties) SELECT props::ag_catalog.agtype FROM strata_graph_nodes "
                    "WHERE label = %s ON CONFLICT (({})) DO UPDATE SET properties = EXCLUDED.properties "
                    "WHERE t.properties IS DISTINCT FROM EXCLUDED.properties"
                ).format(self._table(label), self._key_of()),
                [label],
            )

    def _load_edges(self, cursor: psycopg.Cursor, batch: Batch) -> None:
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
                    "INSERT INTO {} AS t (start_id, end_id, properties) "
                    "SELECT src, dst, props::ag_catalog.agtype FROM strata_graph_edges WHERE etype = %s "
                    "ON CONFLICT (start_id, end_id) DO UPDATE SET properties = EXCLUDED.properties "
                    "WHERE t.properties IS DISTINCT FROM EXCLUDED.properties"
                ).format(self._table(edge_type)),
                [edge_type],
            )

    def _resolve_endpoints(self, cursor: psycopg.Cursor, batch: Batch) -> list[str | None]:
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
