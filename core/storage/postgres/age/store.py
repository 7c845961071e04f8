"""The AGE GraphStore: graph and label definitions, single-node/edge writes and reads; bulk
loads, traversals, scans and Cypher come from the mixins of the same package."""

from __future__ import annotations

import json

from django.db import transaction
from psycopg import sql

from core.storage import filters
from core.storage.ports import InvalidInput, Node, NodeRef
from core.storage.ports.graph import NODE
from core.storage.postgres.age.base import AGTYPE_PARAM, EDGE, KIND_NAMES, VERTEX
from core.storage.postgres.age.bulk import BulkLoadMixin
from core.storage.postgres.age.cypher import CypherMixin
from core.storage.postgres.age.paths import PathMixin
from core.storage.postgres.age.scan import ScanMixin
from core.storage.postgres.age.stats import StatsMixin
from core.storage.postgres.age.values import as_node, index_name, parse_agtype
from core.storage.postgres.filters import compile_filter


class AgeGraphStore(BulkLoadMixin, PathMixin, ScanMixin, StatsMixin, CypherMixin):
    """GraphStore on the Apache AGE graph ``graph`` (default ``settings.STRATA_GRAPH_NAME``)."""

    def __repr__(self) -> str:
        return f"AgeGraphStore(graph={self.graph!r}, using={self.using!r})"

    # ------------------------------------------------------------ graph and schema

    def graph_exists(self) -> bool:
        return bool(self._execute(sql.SQL("SELECT 1 FROM ag_catalog.ag_graph WHERE name = %s"), [self.graph]))

    def ensure_graph(self) -> None:
        """Create the AGE graph if it does not exist (adapter-specific; not part of the port)."""
        if self.graph_exists():
            return
        with transaction.atomic(using=self.using):
            self._lock()
            if not self.graph_exists():
                self._execute(sql.SQL("SELECT ag_catalog.create_graph(%s)"), [self.graph])
        self._labels_created(self._connection.in_atomic_block)

    def drop_graph(self) -> None:
        """Drop the AGE graph and all its data (adapter-specific; not part of the port)."""
        with transaction.atomic(using=self.using):
            self._lock()
            if self.graph_exists():
                self._execute(sql.SQL("SELECT ag_catalog.drop_graph(%s, true)"), [self.graph])
        self._forget_catalogue()

    def _indexes(self, label: str, kind: str) -> dict[str, sql.Composable]:
        """Index name -> CREATE INDEX statement for a label's table.

        Vertices: the unique key index and a GIN index (Cypher's ``MATCH (n:L {key: ...})``).
        Edges: unique (start_id, end_id), (end_id, start_id) for incoming walks and their pages
        in index order, and a unique index on ``id`` (edges by id: paths, scans)."""
        table = self._table(label)
        if kind == VERTEX:
            specs = {
                "key_uniq": sql.SQL("CREATE UNIQUE INDEX {name} ON {table} (({key}))"),
                "props_gin": sql.SQL("CREATE INDEX {name} ON {table} USING gin (properties)"),
            }
        else:
            specs = {
                "ends_uniq": sql.SQL("CREATE UNIQUE INDEX {name} ON {table} (start_id, end_id)"),
                "ends_rev": sql.SQL("CREATE INDEX {name} ON {table} (end_id, start_id)"),
                "id_uniq": sql.SQL("CREATE UNIQUE INDEX {name} ON {table} (id)"),
            }
        statements = {}
        for suffix, spec in specs.items():
            name = index_name(label, suffix)
            statements[name] = spec.format(name=sql.Identifier(name), table=table, key=self._key_of())
        return statements

    def _missing_indexes(self, label: str, kind: str) -> dict[str, sql.Composable] | None:
        """None when the label exists with this kind and all its indexes; else what is missing.
        One query: the catalogue version (the catalogue is read again only when it changed) and
        which of the label's indexes exist."""
        indexes = self._indexes(label, kind)
        [(version, present)] = self._execute(
            sql.SQL(
                "SELECT {version}, ARRAY(SELECT c.relname::text FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s::text[]))"
            ).format(version=self._version_sql()),
            [self.graph, list(indexes)],
        )
        catalogue = self._catalogue()
        if version != catalogue.version:
            catalogue = self._reload_catalogue()
        if catalogue.kinds.get(label) != kind:
            return indexes
        missing = {name: statement for name, statement in indexes.items() if name not in present}
        return missing or None

    def _do_define(self, label: str, kind: str) -> None:
        """Create the label and its indexes unless they exist (idempotent, safe under concurrency).
        When they do (the usual case: ingest defines its label on every batch) it costs one query."""
        kind = VERTEX if kind == NODE else EDGE
        if self._missing_indexes(label, kind) is None:
            return
        in_transaction = self._connection.in_atomic_block
        with transaction.atomic(using=self.using):
            self.ensure_graph()
            self._lock()
            existing = self._kinds([label]).get(label)
            if existing is not None and existing != kind:
                raise InvalidInput(f"{label!r} is already a {KIND_NAMES[existing]} in graph {self.graph!r}")
            if existing is None:
                create = sql.Identifier("create_vlabel" if kind == VERTEX else "create_elabel")
                self._execute(sql.SQL("SELECT ag_catalog.{}(%s, %s)").format(create), [self.graph, label])
                if kind == EDGE:  # AGE's own (start_id) and (end_id) are prefixes of ours: fewer writes
                    for suffix in ("start_id_idx", "end_id_idx"):
                        self._execute(sql.SQL("DROP INDEX IF EXISTS {}").format(self._table(f"{label}_{suffix}")))
            for statement in (self._missing_indexes(label, kind) or {}).values():
                self._execute(statement)
        self._labels_created(in_transaction)

    def _do_labels(self, kind: str) -> list[str]:
        kind = VERTEX if kind == NODE else EDGE
        rows = self._execute(
            sql.SQL(
                "SELECT l.name::text FROM ag_catalog.ag_label l JOIN ag_catalog.ag_graph g ON g.graphid = l.graph "
                "WHERE g.name = %s AND l.kind = %s AND l.name NOT LIKE '\\_ag\\_label\\_%%' "
                'ORDER BY l.name::text COLLATE "C"'
            ),
            [self.graph, kind],
        )
        return [name for (name,) in rows]

    # ------------------------------------------------------------ single writes and reads

    def _do_upsert_node(self, label: str, key: str, properties: str) -> None:
        self._execute(
            sql.SQL(
                "INSERT INTO {table} AS t (properties) VALUES ({props}) ON CONFLICT (({key})) "
                "DO UPDATE SET properties = EXCLUDED.properties WHERE t.properties IS DISTINCT FROM EXCLUDED.properties"
            ).format(table=self._table(label), props=AGTYPE_PARAM, key=self._key_of()),
            [properties],
        )

    def _do_upsert_edge(self, edge_type: str, source: NodeRef, target: NodeRef, properties: str) -> None:
        rows = self._execute(
            sql.SQL(
                "INSERT INTO {table} AS e (start_id, end_id, properties) "
                "SELECT s.id, t.id, {props} FROM ({source}) s, ({target}) t "
                "ON CONFLICT (start_id, end_id) DO UPDATE SET properties = EXCLUDED.properties "
                "WHERE e.properties IS DISTINCT FROM EXCLUDED.properties RETURNING 1"
            ).format(
                table=self._table(edge_type),
                props=AGTYPE_PARAM,
                source=self._find(source),
                target=self._find(target),
            ),
            [properties, json.dumps(source.key), json.dumps(target.key)],
        )
        if not rows:  # nothing was written: say which end is missing
            self._node_id(source, "source node")
            self._node_id(target, "target node")

    def _do_get_node(self, ref: NodeRef) -> Node | None:
        rows = self._execute(
            sql.SQL("SELECT properties::text FROM {} WHERE {} = {}").format(
                self._table(ref.label), self._key_of(), AGTYPE_PARAM
            ),
            [json.dumps(ref.key)],
        )
        return as_node(ref.label, parse_agtype(rows[0][0])) if rows else None

    def _do_delete_node(self, ref: NodeRef) -> bool:
        """Delete the node and, in the same statement, every edge of any type touching it
        (``_ag_label_edge`` is the parent table of all edge tables)."""
        rows = self._execute(
            sql.SQL(
                "WITH v AS ({find}), "
                "gone AS (DELETE FROM {edges} e USING v WHERE e.start_id = v.id OR e.end_id = v.id) "
                "DELETE FROM {table} n USING v WHERE n.id = v.id RETURNING 1"
            ).format(find=self._find(ref), edges=self._table("_ag_label_edge"), table=self._table(ref.label)),
            [json.dumps(ref.key)],
        )
        return bool(rows)

    def _do_delete_nodes(self, label: str, condition: filters.Filter) -> int:
        """One statement: the matching nodes, then their edges of any type, then the nodes."""
        where, params = compile_filter(condition, sql.SQL("properties::text::jsonb"))
        rows = self._execute(
            sql.SQL(
                "WITH v AS (SELECT id FROM {table} WHERE {where}), "
                "gone AS (DELETE FROM {edges} e USING v WHERE e.start_id = v.id OR e.end_id = v.id), "
                "n AS (DELETE FROM {table} n USING v WHERE n.id = v.id RETURNING 1) "
                "SELECT count(*) FROM n"
            ).format(table=self._table(label), where=where, edges=self._table("_ag_label_edge")),
            params,
        )
        return int(rows[0][0])

    def _do_delete_edge(self, edge_type: str, source: NodeRef, target: NodeRef) -> bool:
        rows = self._execute(
            sql.SQL(
                "DELETE FROM {table} e USING ({source}) s, ({target}) t "
                "WHERE e.start_id = s.id AND e.end_id = t.id RETURNING 1"
            ).format(table=self._table(edge_type), source=self._find(source), target=self._find(target)),
            [json.dumps(source.key), json.dumps(target.key)],
        )
        return bool(rows)
