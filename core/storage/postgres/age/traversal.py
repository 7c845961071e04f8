"""Traversals of the AGE graph: neighbours, k-hop, subgraph and shortest path, answered with SQL
over the label tables (a recursive CTE, or one query per BFS level), never Cypher variable-length
paths, which are two to three orders of magnitude slower on AGE (see bench/graph_bench.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from core.storage.graph_search import BidirectionalSearch
from core.storage.ports import Edge, Hop, Node, NodeNotFound, NodeRef, Path, Subgraph
from core.storage.postgres.age.base import AgeBase
from core.storage.postgres.age.values import as_node, parse_many

_REVERSE = {"out": "in", "in": "out", "both": "both"}


class TraversalMixin(AgeBase):
    """Traversals as SQL over the label tables (never Cypher variable-length paths)."""

    def _steps(self, direction: str, edge_types: Sequence[str] | None) -> sql.Composable:
        """Rows ``(src, dst, eid)``, one per edge and walking direction, over the chosen edge
        tables (``_ag_label_edge``, the parent of every edge table, when no type is given)."""
        parts = []
        for name in edge_types or ["_ag_label_edge"]:
            table = self._table(name)
            if direction != "in":
                parts.append(sql.SQL("SELECT start_id AS src, end_id AS dst, id AS eid FROM {}").format(table))
            if direction != "out":
                parts.append(sql.SQL("SELECT end_id AS src, start_id AS dst, id AS eid FROM {}").format(table))
        return sql.SQL(" UNION ALL ").join(parts)

    def _fetch_nodes(
        self, rows: sql.Composable, params: Sequence[Any], *, limit: int | None
    ) -> list[tuple[int, Node, str]]:
        """(depth, node, graphid) for each row ``(id, depth)`` of ``rows``, ordered by
        (depth, label, key): in SQL when there is a limit, else in Python (cheaper)."""
        query = sql.SQL(
            "SELECT r.depth, l.name::text, v.properties::text, v.id::text FROM ({rows}) r "
            "JOIN {vertices} v ON v.id = r.id JOIN ag_catalog.ag_label l ON l.relation = v.tableoid"
        ).format(rows=rows, vertices=self._table("_ag_label_vertex"))
        if limit is not None:
            query += sql.SQL(' ORDER BY r.depth, l.name::text COLLATE "C", ({})::text COLLATE "C" LIMIT %s').format(
                self._key_of("v")
            )
            params = [*params, limit]
        found = self._execute(query, params)
        properties = parse_many([props for _, _, props, _ in found])
        result = [(depth, as_node(label, p), gid) for (depth, label, _, gid), p in zip(found, properties, strict=True)]
        if limit is None:
            result.sort(key=lambda row: (row[0], row[1].label, row[1].key))
        return result

    def _start_row(self, rows: list[tuple[int, Node, str]], ref: NodeRef) -> tuple[int, Node, str]:
        if not rows or rows[0][0] != 0:
            raise NodeNotFound(f"start node {ref.label}:{ref.key!r} does not exist in graph {self.graph!r}")
        return rows[0]

    def _do_neighbours(self, ref: NodeRef, direction: str, types: list[str] | None, limit: int | None) -> list[Node]:
        """Nodes one edge away (the start node itself only through a self-loop)."""
        rows = sql.SQL(
            "WITH s AS ({find}) SELECT id, 0 AS depth FROM s "
            "UNION ALL SELECT DISTINCT x.dst, 1 FROM s JOIN ({steps}) x ON x.src = s.id"
        ).format(find=self._find(ref), steps=self._steps(direction, types))
        found = self._fetch_nodes(rows, [json.dumps(ref.key)], limit=None if limit is None else limit + 1)
        self._start_row(found, ref)
        return [node for _, node, _ in found[1:]]

    def _reach(
        self, ref: NodeRef, k: int, direction: str, types: Sequence[str] | None, limit: int | None
    ) -> list[tuple[int, Node, str]]:
        """The start node (depth 0), then up to ``limit`` nodes 1..k edges away with their minimum
        depth, as (depth, node, graphid). The recursive CTE's UNION drops repeated (node, depth)
        pairs, so a level never expands the same node twice; GROUP BY keeps each node's minimum."""
        walk = sql.SQL(
            "WITH RECURSIVE walk(id, depth) AS ("
            " SELECT id, 0 FROM ({find}) s"
            " UNION"
            " SELECT x.dst, w.depth + 1 FROM walk w JOIN ({steps}) x ON x.src = w.id WHERE w.depth < %s"
            ") SELECT id, min(depth) AS depth FROM walk GROUP BY id"
        ).format(find=self._find(ref), steps=self._steps(direction, types))
        found = self._fetch_nodes(walk, [json.dumps(ref.key), k], limit=None if limit is None else limit + 1)
        self._start_row(found, ref)
        return found

    def _do_k_hop(self, ref: NodeRef, k: int, direction: str, types: list[str] | None, limit: int | None) -> list[Hop]:
        return [Hop(node, depth) for depth, node, _ in self._reach(ref, k, direction, types, limit)[1:]]

    def _do_subgraph(self, ref: NodeRef, depth: int, direction: str, types: list[str] | None, limit: int) -> Subgraph:
        """The start node first, then up to ``limit - 1`` nodes ordered by (depth, label, key), and
        every edge (of the allowed types, in any direction) between two of those nodes."""
        found = self._reach(ref, depth, direction, types, limit - 1)
        nodes = {gid: node for _, node, gid in found}
        rows = self._execute(
            sql.SQL(
                "SELECT x.eid::text FROM ({steps}) x "
                "WHERE x.src = ANY(%s::text[]::graphid[]) AND x.dst = ANY(%s::text[]::graphid[])"
            ).format(steps=self._steps("out", types)),
            [list(nodes), list(nodes)],
        )
        edges = self._edges_by_id([eid for (eid,) in rows], nodes)
        ordered = sorted(
            edges.values(), key=lambda e: (e.type, e.source.label, e.source.key, e.target.label, e.target.key)
        )
        return Subgraph(nodes=list(nodes.values()), edges=ordered)

    def _nodes_by_id(self, ids: Sequence[str]) -> dict[str, Node]:
        rows = sql.SQL("SELECT unnest(%s::text[]::graphid[]) AS id, 0 AS depth")
        return {gid: node for _, node, gid in self._fetch_nodes(rows, [list(ids)], limit=None)}

    def _edges_by_id(self, ids: Sequence[str], nodes: Mapping[str, Node]) -> dict[str, Edge]:
        """Edges by graphid; ``nodes`` (graphid -> Node) must hold their endpoints."""
        rows = self._execute(
            sql.SQL(
                "SELECT e.id::text, l.name::text, e.start_id::text, e.end_id::text, e.properties::text "
                "FROM {edges} e JOIN ag_catalog.ag_label l ON l.relation = e.tableoid "
                "WHERE e.id = ANY(%s::text[]::graphid[])"
            ).format(edges=self._table("_ag_label_edge")),
            [list(ids)],
        )
        properties = parse_many([props for *_, props in rows])
        return {
            eid: Edge(edge_type, nodes[start].ref, nodes[end].ref, props)
            for (eid, edge_type, start, end, _), props in zip(rows, properties, strict=True)
        }

    def _do_shortest_path(
        self, source: NodeRef, target: NodeRef, max_depth: int, direction: str, types: list[str] | None
    ) -> Path | None:
        """A shortest path of at most ``max_depth`` edges (edges keep their real direction)."""
        start, end = self._node_id(source, "source node"), self._node_id(target, "target node")
        search = BidirectionalSearch(
            lambda frontier, forward: self._expand(
                self._steps(direction if forward else _REVERSE[direction], types), frontier
            )
        )
        found = search.run(start, end, max_depth)
        if found is None:
            return None
        node_ids, edge_ids = found
        nodes = self._nodes_by_id(node_ids)
        edges = self._edges_by_id(edge_ids, nodes)
        return Path(nodes=[nodes[i] for i in node_ids], edges=[edges[i] for i in edge_ids])

    def _expand(self, steps: sql.Composable, frontier: Sequence[str]) -> list[tuple[str, str, str]]:
        """(src, dst, edge id) of every step leaving the frontier, in a stable order."""
        return self._execute(
            sql.SQL(
                "SELECT x.src::text, x.dst::text, x.eid::text FROM ({steps}) x "
                "WHERE x.src = ANY(%s::text[]::graphid[]) ORDER BY x.src, x.dst, x.eid"
            ).format(steps=steps),
            [list(frontier)],
        )
