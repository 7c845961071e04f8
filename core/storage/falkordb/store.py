"""GraphStore on FalkorDB, a Cypher graph engine (a Redis module).

    STRATA_STORAGE = {"content": {"graph": {
        "BACKEND": "core.storage.falkordb.FalkorGraphStore", "url": "redis://falkordb:6379", "graph": "strata"}}}

Nodes are ``(:Label {key: ..., ...})``, unique by (label, key) through ``MERGE`` plus a unique
constraint on ``key``; edges are ``MERGE``d, one per (type, source, target): FalkorDB runs the
write queries of a graph one at a time, so concurrent writers cannot duplicate either (see the
contract's concurrent-writers case), provided the edge type already exists when a ``MERGE`` is
planned: ``define_edge_type`` creates it (``base.py``). Properties that FalkorDB cannot store natively (objects,
nested arrays, nulls) travel in one JSON property (``values.py``). Traversals walk one BFS
level per query over internal ids (``traversal.py``), never ``[*1..k]`` variable-length
patterns, which dropped nodes on converging paths in FalkorDB 4 (upstream issue #2157).

Not part of the caller's database transaction (``joins_db_transaction`` is False); a
``bulk_load`` checks every endpoint first, then writes in batches (``atomic_bulk_load`` False:
a crash in between leaves some of the batch written, which an idempotent re-run completes).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import redis

from core.storage import filters
from core.storage.falkordb import values
from core.storage.falkordb.base import FalkorBase, quoted
from core.storage.falkordb.filters import compile_where
from core.storage.falkordb.traversal import TraversalMixin
from core.storage.graph_input import Batch
from core.storage.ports import Edge, InvalidInput, Node, NodeNotFound, NodeRef, Page

BATCH = 2000  # rows per UNWIND query
DELETE_PAGE = 10_000  # nodes per DETACH DELETE query of delete_nodes


class FalkorGraphStore(TraversalMixin, FalkorBase):
    """ports.GraphStore on the FalkorDB graph ``graph`` (default ``settings.STRATA_GRAPH_NAME``)."""

    # ------------------------------------------------------------ writes

    def _do_upsert_node(self, label: str, key: str, properties: str) -> None:
        self._query(
            f"MERGE (n:{quoted(label)} {{key: $key}}) SET n = $props",
            {"key": key, "props": values.encode(properties)},
        )

    def _do_upsert_edge(self, edge_type: str, source: NodeRef, target: NodeRef, properties: str) -> None:
        rows = self._rows(
            f"MATCH (a:{quoted(source.label)} {{key: $source}}) MATCH (b:{quoted(target.label)} {{key: $target}}) "
            f"MERGE (a)-[r:{quoted(edge_type)}]->(b) SET r = $props RETURN count(r)",
            {"source": source.key, "target": target.key, "props": values.encode(properties)},
        )
        if not rows or rows[0][0] == 0:  # nothing was written: say which end is missing
            self._node_id(source, "source node")
            self._node_id(target, "target node")

    def _do_bulk_load(self, batch: Batch) -> None:
        """Check that every edge endpoint exists (or is loaded now), then upsert nodes and edges
        with one ``UNWIND ... MERGE`` per label / edge type and batch of rows."""
        refs = batch.endpoint_refs()
        self._check_endpoints([ref for ref in refs if ref.key not in batch.nodes.get(ref.label, {})])
        for label, rows in batch.nodes.items():
            items = [{"key": key, "props": values.encode(text)} for key, text in rows.items()]
            for start in range(0, len(items), BATCH):
                self._query(
                    f"UNWIND $rows AS row MERGE (n:{quoted(label)} {{key: row.key}}) SET n = row.props",
                    {"rows": items[start : start + BATCH]},
                )
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for (edge_type, source, target), text in batch.edges.items():
            s, t = refs[source], refs[target]
            groups[(edge_type, s.label, t.label)].append({"s": s.key, "t": t.key, "props": values.encode(text)})
        for (edge_type, source_label, target_label), items in sorted(groups.items()):
            for start in range(0, len(items), BATCH):
                self._query(
                    f"UNWIND $rows AS row MATCH (a:{quoted(source_label)} {{key: row.s}}) "
                    f"MATCH (b:{quoted(target_label)} {{key: row.t}}) "
                    f"MERGE (a)-[r:{quoted(edge_type)}]->(b) SET r = row.props",
                    {"rows": items[start : start + BATCH]},
                )

    def _check_endpoints(self, refs: list[NodeRef]) -> None:
        by_label: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            by_label[ref.label].append(ref.key)
        missing: list[tuple[str, str]] = []
        for label, keys in sorted(by_label.items()):
            found: set[str] = set()
            for start in range(0, len(keys), BATCH):
                rows = self._rows(
                    f"UNWIND $keys AS k MATCH (n:{quoted(label)} {{key: k}}) RETURN n.key",
                    {"keys": keys[start : start + BATCH]},
                )
                found.update(row[0] for row in rows)
            missing.extend((label, key) for key in keys if key not in found)
        if missing:
            missing.sort()
            shown = ", ".join(f"{label}:{key!r}" for label, key in missing[:5])
            raise NodeNotFound(
                f"edge endpoints do not exist in graph {self.graph!r}: {shown}"
                f"{' and more' if len(missing) > 5 else ''}; nothing was written"
            )

    def _do_delete_node(self, ref: NodeRef) -> bool:
        result = self._query(f"MATCH (n:{quoted(ref.label)} {{key: $key}}) DETACH DELETE n", {"key": ref.key})
        return result.nodes_deleted > 0

    def _do_delete_nodes(self, label: str, condition: filters.Filter) -> int:
        """In pages (FalkorDB holds its single writer for the whole query), until none match."""
        where, params = compile_where(condition)
        deleted = 0
        while True:
            result = self._query(
                f"MATCH (n:{quoted(label)}) WHERE {where} WITH n LIMIT $page DETACH DELETE n",
                {**params, "page": DELETE_PAGE},
            )
            deleted += result.nodes_deleted
            if result.nodes_deleted < DELETE_PAGE:
                return deleted

    def _do_delete_edge(self, edge_type: str, source: NodeRef, target: NodeRef) -> bool:
        result = self._query(
            f"MATCH (a:{quoted(source.label)} {{key: $source}})-[r:{quoted(edge_type)}]->"
            f"(b:{quoted(target.label)} {{key: $target}}) DELETE r",
            {"source": source.key, "target": target.key},
        )
        return result.relationships_deleted > 0

    # ------------------------------------------------------------ reads

    def _do_get_node(self, ref: NodeRef) -> Node | None:
        rows = self._rows(f"MATCH (n:{quoted(ref.label)} {{key: $key}}) RETURN n", {"key": ref.key})
        return values.node(rows[0][0]) if rows else None

    def _do_scan_nodes(self, label: str, condition: filters.Filter | None, after: str | None, limit: int) -> Page[Node]:
        where, params = ("true", {}) if condition is None else compile_where(condition)
        rows = self._rows(
            f"MATCH (n:{quoted(label)}) WHERE ($after IS NULL OR n.key > $after) AND {where} "
            "RETURN n ORDER BY n.key LIMIT $limit",
            {**params, "after": after, "limit": limit + 1},
        )
        items = [values.node(row[0]) for row in rows[:limit]]
        return Page(items=items, next_cursor=items[-1].key if len(rows) > limit else None)

    def _do_scan_edges(self, edge_type: str, after: str | None, limit: int) -> Page[Edge]:
        if after is not None and not (after.isascii() and after.isdigit()):
            raise InvalidInput(f"after must be the next_cursor of a previous page of this store, got {after!r}")
        rows = self._rows(
            f"MATCH (a)-[r:{quoted(edge_type)}]->(b) WHERE $after IS NULL OR id(r) > $after "
            "RETURN id(r), labels(a)[0], a.key, labels(b)[0], b.key, r ORDER BY id(r) LIMIT $limit",
            {"after": None if after is None else int(after), "limit": limit + 1},
        )
        items = [
            Edge(edge_type, NodeRef(sl, sk), NodeRef(tl, tk), values.decode(r.properties))
            for _, sl, sk, tl, tk, r in rows[:limit]
        ]
        return Page(items=items, next_cursor=str(rows[limit - 1][0]) if len(rows) > limit else None)

    def _do_count_nodes(self, label: str | None, condition: filters.Filter | None) -> int:
        where, params = ("true", {}) if condition is None else compile_where(condition)
        pattern = f"(n:{quoted(label)})" if label else "(n)"
        return self._rows(f"MATCH {pattern} WHERE {where} RETURN count(n)", params)[0][0]

    def _do_count_edges(self, edge_type: str | None) -> int:
        pattern = f"()-[r:{quoted(edge_type)}]->()" if edge_type else "()-[r]->()"
        return self._rows(f"MATCH {pattern} RETURN count(r)")[0][0]

    # ------------------------------------------------------------ cypher

    def _do_cypher(
        self, query: str, params: str, columns: list[str], *, read_only: bool = False, max_rows: int | None = None
    ) -> list[dict[str, Any]]:
        """Run Cypher with the parameters in FalkorDB's parameter header (``read_only``: through
        ``GRAPH.RO_QUERY``, so the engine refuses a write); values come back as the port's
        Node/Edge/Path (edge endpoints resolved to (label, key)) and JSON values."""
        arguments = json.loads(params)
        try:
            result = self._query(query, arguments or None, read_only=read_only)
        except (redis.ResponseError, ValueError) as error:
            raise InvalidInput(f"cypher query refused: {error}") from error
        rows = result.result_set if max_rows is None else result.result_set[:max_rows]
        if rows and len(rows[0]) != len(columns):
            raise InvalidInput(f"the query returns {len(rows[0])} columns, not {len(columns)} ({columns})")
        ids = values.node_ids(rows)
        refs = self._refs_by_id(ids) if ids else {}
        return [dict(zip(columns, (values.neutral(v, refs) for v in row), strict=True)) for row in rows]
