"""Traversals of the AGE graph: neighbours (whole or a page at a time), k-hop and subgraph, each
ONE SQL statement over the label tables, never Cypher variable-length paths (two to three orders
of magnitude slower on AGE: ARCHITECTURE.md's measured facts).

Each statement finds the start by its key, walks, and returns node rows ``(depth, graphid, key,
properties or NULL, catalogue version on the start row)``: labels come from the graphid (its
label id, through the in-memory catalogue), keys as plain text, and properties only when asked.
The walk is a breadth-first search in a recursive CTE that carries the visited set, so no node
is expanded twice (a plain recursive UNION re-expands a node reached again at a greater depth,
which next to a hub multiplies the work). Statements are composed once per store and shape,
and prepared by the server after their second run (``AgeBase._fetch``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import sql

from core.storage.ports import Edge, Hop, InvalidInput, Node, NodeNotFound, NodeRef, Page, Subgraph
from core.storage.postgres.age.base import AgeBase
from core.storage.postgres.age.catalogue import LABEL_ID_SHIFT, VERTEX, Catalogue
from core.storage.postgres.age.values import parse_many

_KEY_TEXT = sql.SQL("{}.properties->>'key'::text")
_ORDER = sql.SQL(' ORDER BY {depth}, array_position(%s::int[], ({v}.id::text::int8 >> 48)::int), {key} COLLATE "C"')
_BFS = (
    "WITH RECURSIVE bfs(depth, frontier, seen) AS ("
    " SELECT 0, ARRAY[s.id], ARRAY[s.id] FROM ({find}) s"
    " UNION ALL"
    " SELECT b.depth + 1, n.ids, b.seen || n.ids FROM bfs b, LATERAL ("
    "  SELECT array_agg(DISTINCT x.dst) AS ids FROM unnest(b.frontier) f(id) JOIN ({steps}) x ON x.src = f.id"
    "  WHERE NOT EXISTS (SELECT 1 FROM unnest(b.seen) q(id) WHERE q.id = x.dst)) n"
    " WHERE b.depth < %s AND n.ids IS NOT NULL"
    "), reach AS (SELECT depth, unnest(frontier) AS id FROM bfs)"
)
_CURSOR_START = "0"


def _order(depth: sql.Composable) -> sql.Composable:
    """ORDER BY (depth, label name, key) of the vertex ``v`` (labels by the sorted-ids parameter)."""
    return _ORDER.format(depth=depth, v=sql.Identifier("v"), key=_KEY_TEXT.format(sql.Identifier("v")))


class TraversalMixin(AgeBase):
    """Traversals as one SQL statement each over the label tables."""

    # ------------------------------------------------------------ SQL pieces

    def _steps(self, direction: str, edge_types: Sequence[str] | None, *, properties: bool = False) -> sql.Composable:
        """Rows ``(src, dst, eid[, props])``, one per edge and walking direction, over the chosen
        edge tables (``_ag_label_edge``, the parent of every edge table, when no type is given)."""
        extra = sql.SQL(", properties AS props") if properties else sql.SQL("")
        parts = []
        for name in edge_types or ["_ag_label_edge"]:
            table = self._table(name)
            if direction != "in":
                parts.append(sql.SQL("SELECT start_id AS src, end_id AS dst, id AS eid{} FROM {}").format(extra, table))
            if direction != "out":
                parts.append(sql.SQL("SELECT end_id AS src, start_id AS dst, id AS eid{} FROM {}").format(extra, table))
        return sql.SQL(" UNION ALL ").join(parts)

    def _node_columns(self, alias: str, properties: bool) -> sql.Composable:
        """``graphid, key, properties or NULL`` of the vertex ``alias``."""
        props = sql.SQL("{}.properties::text").format(sql.Identifier(alias)) if properties else sql.SQL("NULL::text")
        return sql.SQL("{}.id::text, {}, {}").format(
            sql.Identifier(alias), _KEY_TEXT.format(sql.Identifier(alias)), props
        )

    def _label_ids(self, labels: Sequence[str]) -> list[int]:
        """The ids of the node labels that exist (the catalogue is read again for a name it lacks:
        a label created since)."""
        catalogue = self._catalogue()
        if any(catalogue.kinds.get(name) != VERTEX for name in labels):
            catalogue = self._reload_catalogue()
        return sorted({catalogue.ids[name] for name in labels if catalogue.kinds.get(name) == VERTEX})

    def _vertices(self) -> sql.Composable:
        return self._table("_ag_label_vertex")

    # ------------------------------------------------------------ rows to nodes

    def _nodes(self, rows: list[tuple], catalogue: Catalogue, properties: bool) -> list[Node]:
        """Nodes from rows ``(..., graphid, key, props)`` (the last three columns given). The hot
        loop of large answers (a hub's 20k neighbours): the label comes from the graphid's label
        id, or is the graph's only node label."""
        parsed = parse_many([row[-1] for row in rows]) if properties else None
        only = catalogue.only_label(VERTEX)
        names = catalogue.names
        nodes = []
        for index, row in enumerate(rows):
            key = row[-2]
            label = only or names.get(int(row[-3]) >> LABEL_ID_SHIFT)
            if label is None:  # a label created since the catalogue was read
                catalogue = self._reload_catalogue()
                names = catalogue.names
                label = catalogue.label_of(row[-3]) or ""
            if parsed is None:
                nodes.append(Node(label, "" if key is None else key, {}))
            else:
                props = parsed[index]
                props.pop("key", None)
                nodes.append(Node(label, "" if key is None else key, props))
        return nodes

    def _start(self, rows: list[tuple], ref: NodeRef, types: Sequence[str] | None, version_at: int) -> Catalogue:
        """The catalogue for the rows of a walk from ``ref`` (NodeNotFound when the walk found no
        start); ``version_at`` is the column of the start row's catalogue version."""
        if not rows or rows[0][0] != 0:  # no start row, so no version: check the labels first
            self._check(self._reload_catalogue(), [ref.label], list(types or ()))
            raise NodeNotFound(f"start node {ref.label}:{ref.key!r} does not exist in graph {self.graph!r}")
        return self._check_version(rows[0][version_at], [ref.label], types or ())

    # ------------------------------------------------------------ neighbours

    def _do_neighbours(
        self, ref: NodeRef, direction: str, types: list[str] | None, limit: int | None, properties: bool
    ) -> list[Node]:
        """Nodes one edge away (the start node itself only through a self-loop).

        With a limit, the neighbours (ids, then their vertex rows) are MATERIALIZED CTEs that the
        ORDER BY ... LIMIT reads: inlined, the planner (estimating 200 distinct ids) sorted every
        vertex of the graph in a parallel scan and filtered them, 200-400 ms on 55,000 nodes for a
        document with 26 entities (the document page's knowledge panel), where reading the ids
        first and probing the vertex indexes takes 1-2 ms."""

        def build() -> sql.Composable:
            ids = sql.SQL("SELECT DISTINCT x.dst FROM s JOIN ({steps}) x ON x.src = s.id").format(
                steps=self._steps(direction, types)
            )
            if limit is None:  # no ORDER BY: the inline join plans well
                ctes, reads = sql.SQL(""), sql.SQL("({}) n JOIN {} v ON v.id = n.dst").format(ids, self._vertices())
            else:
                ctes = sql.SQL(
                    ", n AS MATERIALIZED ({}), v AS MATERIALIZED (SELECT v.id, v.properties FROM n JOIN {} v "
                    "ON v.id = n.dst)"
                ).format(ids, self._vertices())
                reads = sql.SQL("v")
            query = sql.SQL(
                "WITH s AS ({find}){ctes} SELECT 0 AS depth, s.id::text, NULL::text, NULL::text, {version} FROM s "
                "UNION ALL (SELECT 1, {columns}, NULL FROM {reads}"
            ).format(
                find=self._find(ref),
                ctes=ctes,
                version=self._version_sql(),
                columns=self._node_columns("v", properties),
                reads=reads,
            )
            if limit is not None:
                query += _ORDER.format(
                    depth=sql.SQL("1"), v=sql.Identifier("v"), key=_KEY_TEXT.format(sql.Identifier("v"))
                )
                query += sql.SQL(" LIMIT %s")
            return query + sql.SQL(")")

        key = ("neighbours", ref.label, direction, tuple(types or ()), limit is not None, properties)
        params: list[Any] = [json.dumps(ref.key)]
        if limit is not None:
            params += [self._catalogue().sorted_ids(VERTEX), limit]
        rows = self._fetch(self._statement(key, build), params)
        catalogue = self._start(rows, ref, types, 4)
        nodes = self._nodes([row[:4] for row in rows[1:]], catalogue, properties)
        if limit is None:
            nodes.sort(key=lambda node: (node.label, node.key))
        return nodes

    def _do_neighbours_page(
        self, ref: NodeRef, direction: str, types: list[str] | None, after: str | None, limit: int, properties: bool
    ) -> Page[Node]:
        """A page of neighbours in graphid order: the start's id is an InitPlan parameter, so each
        edge table's (start_id, end_id) or (end_id, start_id) index yields the page in order from
        ``after`` on and the walk stops after ``limit + 1`` rows, however large the hub."""
        if after is not None and not (after.isascii() and after.isdigit()):
            raise InvalidInput(f"after must be the next_cursor of a previous page of this store, got {after!r}")

        def build() -> sql.Composable:
            return sql.SQL(
                "WITH s AS ({find}) SELECT 0 AS depth, s.id::text, NULL::text, NULL::text, {version} FROM s "
                "UNION ALL (SELECT 1, {columns}, NULL FROM (SELECT DISTINCT x.dst FROM ({steps}) x "
                "WHERE x.src = (SELECT id FROM s) AND x.dst > %s::text::ag_catalog.graphid ORDER BY x.dst LIMIT %s) n "
                "JOIN {vertices} v ON v.id = n.dst ORDER BY v.id)"
            ).format(
                find=self._find(ref),
                version=self._version_sql(),
                columns=self._node_columns("v", properties),
                steps=self._steps(direction, types),
                vertices=self._vertices(),
            )

        key = ("page", ref.label, direction, tuple(types or ()), properties)
        rows = self._fetch(self._statement(key, build), [json.dumps(ref.key), after or _CURSOR_START, limit + 1])
        catalogue = self._start(rows, ref, types, 4)
        page = rows[1 : limit + 1]
        nodes = self._nodes([row[:4] for row in page], catalogue, properties)
        return Page(items=nodes, next_cursor=page[-1][1] if len(rows) > limit + 1 else None)

    # ------------------------------------------------------------ k_hop and subgraph

    def _reach(self, ref: NodeRef, direction: str, types: Sequence[str] | None) -> sql.Composable:
        """The BFS CTEs: ``reach(depth, id)`` holds the start (depth 0) and every node within the
        depth (its first parameter after the start's key) at its shortest depth."""
        return sql.SQL(_BFS).format(find=self._find(ref), steps=self._steps(direction, types))

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
        filtered = last_labels is not None

        def build() -> sql.Composable:
            # with last_labels, the nodes at depth k of other labels are left out by the label id
            # in their graphid, before their rows are read (a popular node's 2-hop neighbourhood
            # is mostly such nodes)
            last = sql.SQL(" WHERE r.depth < %s OR (r.id::text::int8 >> 48)::int = ANY(%s::int[])")
            query = sql.SQL(
                "{reach} SELECT r.depth, {columns}, CASE WHEN r.depth = 0 THEN {version} END "
                "FROM reach r JOIN {vertices} v ON v.id = r.id{last}"
            ).format(
                reach=self._reach(ref, direction, types),
                columns=self._node_columns("v", properties),
                version=self._version_sql(),
                vertices=self._vertices(),
                last=last if filtered else sql.SQL(""),
            )
            if limit is not None:
                query += _order(sql.SQL("r.depth"))
                query += sql.SQL(" LIMIT %s")
            return query

        key = ("k_hop", ref.label, direction, tuple(types or ()), limit is not None, properties, filtered)
        params: list[Any] = [json.dumps(ref.key), k]
        if filtered:
            params += [k, self._label_ids(last_labels or [])]
        if limit is not None:
            params += [self._catalogue().sorted_ids(VERTEX), limit + 1]
        rows = self._fetch(self._statement(key, build), params)
        if rows and limit is None:
            rows.sort(key=lambda row: row[0])  # the start (depth 0) first
        catalogue = self._start(rows, ref, types, 4)
        nodes = self._nodes([row[:4] for row in rows[1:]], catalogue, properties)
        hops = [Hop(node, row[0]) for row, node in zip(rows[1:], nodes, strict=True)]
        if limit is None:
            hops.sort(key=lambda hop: (hop.depth, hop.node.label, hop.node.key))
        return hops

    def _do_subgraph(
        self, ref: NodeRef, depth: int, direction: str, types: list[str] | None, limit: int, properties: bool
    ) -> Subgraph:
        """The start node first, then up to ``limit - 1`` nodes ordered by (depth, label, key), and
        every edge (of the allowed types) between two of those nodes: one statement."""

        def build() -> sql.Composable:
            eprops = sql.SQL("x.props::text") if properties else sql.SQL("NULL::text")
            return sql.SQL(
                "{reach}, chosen AS MATERIALIZED (SELECT r.depth, v.id, v.properties FROM reach r "
                "JOIN {vertices} v ON v.id = r.id{order} LIMIT %s) "
                "SELECT c.depth, NULL::text, NULL::text, {columns}, CASE WHEN c.depth = 0 THEN {version} END "
                "FROM chosen c UNION ALL "
                "SELECT NULL, x.src::text, x.dst::text, x.eid::text, NULL, {eprops}, NULL FROM ({steps}) x "
                "WHERE x.src IN (SELECT id FROM chosen) AND x.dst IN (SELECT id FROM chosen)"
            ).format(
                reach=self._reach(ref, direction, types),
                vertices=self._vertices(),
                order=_order(sql.SQL("r.depth")),
                columns=self._node_columns("c", properties),
                version=self._version_sql(),
                eprops=eprops,
                steps=self._steps("out", types, properties=properties),
            )

        key = ("subgraph", ref.label, direction, tuple(types or ()), properties)
        params = [json.dumps(ref.key), depth, self._catalogue().sorted_ids(VERTEX), limit]
        rows = self._fetch(self._statement(key, build), params)
        node_rows = sorted((row for row in rows if row[0] is not None), key=lambda row: row[0])
        catalogue = self._start(node_rows, ref, types, 6)
        found = self._nodes([row[3:6] for row in node_rows], catalogue, properties)
        depth_of = {row[3]: (row[0], node) for row, node in zip(node_rows, found, strict=True)}
        nodes = sorted(depth_of.values(), key=lambda item: (item[0], item[1].label, item[1].key))
        edge_rows = [row for row in rows if row[0] is None]
        parsed = parse_many([row[5] for row in edge_rows]) if properties else [{}] * len(edge_rows)
        edges = [
            Edge(catalogue.label_of(eid) or "", depth_of[src][1].ref, depth_of[dst][1].ref, props)
            for (_, src, dst, eid, _, _, _), props in zip(edge_rows, parsed, strict=True)
        ]
        edges.sort(key=lambda e: (e.type, e.source.label, e.source.key, e.target.label, e.target.key))
        return Subgraph(nodes=[node for _, node in nodes], edges=edges)
