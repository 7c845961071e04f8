"""Shortest paths in the AGE graph: a bidirectional breadth-first search in ONE SQL statement.

The recursive CTE ``search`` carries both sides' frontiers, their visited sets (with depths) and
the work done so far. Each iteration:

1. counts the edges leaving each frontier (each count stops at ``probe`` rows) and expands the
   side with FEWER EDGES (not fewer nodes: one hub in a frontier of one is the expensive side);
2. expands that side by one full level, reading at most the remaining budget of edges
   (``STRATA_GRAPH_MAX_WORK``; a search that would need more stops with status ``cap`` and the
   port raises TraversalTooLarge);
3. records the new level's nodes with their parents and edges, and stops when one of them is in
   the other side's visited set (the one closest to the other root wins, so the path is shortest).

``walk`` then follows the parents from the meeting node back to both ends, and the final SELECT
returns the path's nodes and edges (looked up by id: edge tables have a unique index on ``id``)
with a status row. One round trip; prepared after its second run like the other traversals.

The side chosen in step 1 (``d.fwd``) sits in a subquery fenced with ``OFFSET 0``: without the
fence the planner pulls it up and pastes its two edge counts into each of the twenty-odd places
that read ``d.fwd``, which made the plan five times larger (6-25 ms of planning on every custom
plan) and counted the frontiers' edges again and again on every level (a shortest path in the
knowledge bench: 5.5 -> 0.9 ms of PostgreSQL CPU).
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from core.storage.ports import Edge, NodeNotFound, NodeRef, Path, TraversalTooLarge
from core.storage.postgres.age.traversal import TraversalMixin
from core.storage.postgres.age.values import parse_many

_REVERSE = {"out": "in", "in": "out", "both": "both"}
PROBE = 4096  # a frontier's edges are counted up to this many (both sides past it: fewer nodes first)

_SEARCH = """
WITH RECURSIVE ends AS (
  SELECT ({find_s}) AS s, ({find_t}) AS t
), search(fd, bd, ff, bf, fs, fsd, bs, bsd, side, nodes, parents, edges, work, meet, mf, mb, status) AS (
  SELECT 0, 0, ARRAY[s], ARRAY[t], ARRAY[s], ARRAY[0], ARRAY[t], ARRAY[0], NULL::text,
         NULL::ag_catalog.graphid[], NULL::ag_catalog.graphid[], NULL::ag_catalog.graphid[], 0::bigint,
         CASE WHEN s = t THEN s END, 0, 0, CASE WHEN s = t THEN 'met' END
  FROM ends WHERE s IS NOT NULL AND t IS NOT NULL
  UNION ALL
  SELECT
    CASE WHEN d.fwd THEN p.fd + 1 ELSE p.fd END, CASE WHEN d.fwd THEN p.bd ELSE p.bd + 1 END,
    CASE WHEN d.fwd THEN e.nodes ELSE p.ff END, CASE WHEN d.fwd THEN p.bf ELSE e.nodes END,
    CASE WHEN d.fwd THEN p.fs || e.nodes ELSE p.fs END,
    CASE WHEN d.fwd THEN p.fsd || array_fill(p.fd + 1, ARRAY[cardinality(e.nodes)]) ELSE p.fsd END,
    CASE WHEN d.fwd THEN p.bs ELSE p.bs || e.nodes END,
    CASE WHEN d.fwd THEN p.bsd ELSE p.bsd || array_fill(p.bd + 1, ARRAY[cardinality(e.nodes)]) END,
    CASE WHEN d.fwd THEN 'f' ELSE 'b' END, e.nodes, e.parents, e.edges, p.work + e.examined, m.meet,
    CASE WHEN d.fwd THEN p.fd + 1 ELSE m.odepth END, CASE WHEN d.fwd THEN m.odepth ELSE p.bd + 1 END,
    CASE WHEN p.work + e.examined > %(budget)s THEN 'cap' WHEN m.meet IS NOT NULL THEN 'met' END
  FROM search p
  CROSS JOIN LATERAL (
    SELECT c.fdeg < c.bdeg OR (c.fdeg = c.bdeg AND cardinality(p.ff) <= cardinality(p.bf)) AS fwd FROM (SELECT
      (SELECT count(*) FROM (SELECT 1 FROM unnest(p.ff) f(id) JOIN ({fsteps}) x ON x.src = f.id LIMIT %(probe)s) q)
        AS fdeg,
      (SELECT count(*) FROM (SELECT 1 FROM unnest(p.bf) f(id) JOIN ({bsteps}) x ON x.src = f.id LIMIT %(probe)s) q)
        AS bdeg OFFSET 0) c
    OFFSET 0
  ) d
  CROSS JOIN LATERAL (
    WITH raw AS (
      (SELECT x.src, x.dst, x.eid FROM unnest(p.ff) f(id) JOIN ({fsteps}) x ON x.src = f.id
       WHERE d.fwd LIMIT %(budget)s - p.work + 1)
      UNION ALL
      (SELECT x.src, x.dst, x.eid FROM unnest(p.bf) f(id) JOIN ({bsteps}) x ON x.src = f.id
       WHERE NOT d.fwd LIMIT %(budget)s - p.work + 1)
    ), fresh AS (
      SELECT DISTINCT ON (r.dst) r.dst, r.src, r.eid FROM raw r
      WHERE NOT EXISTS (SELECT 1 FROM unnest(CASE WHEN d.fwd THEN p.fs ELSE p.bs END) q(id) WHERE q.id = r.dst)
      ORDER BY r.dst, r.src, r.eid
    )
    SELECT (SELECT count(*) FROM raw) AS examined, coalesce(array_agg(dst), '{{}}') AS nodes,
           array_agg(src) AS parents, array_agg(eid) AS edges FROM fresh
  ) e
  LEFT JOIN LATERAL (
    SELECT o.id AS meet, o.depth AS odepth
    FROM unnest(CASE WHEN d.fwd THEN p.bs ELSE p.fs END, CASE WHEN d.fwd THEN p.bsd ELSE p.fsd END) o(id, depth)
    JOIN unnest(e.nodes) n(id) ON n.id = o.id ORDER BY o.depth, o.id LIMIT 1
  ) m ON true
  WHERE p.status IS NULL AND cardinality(p.ff) > 0 AND cardinality(p.bf) > 0 AND p.fd + p.bd < %(max_depth)s
), final AS (
  SELECT * FROM search WHERE status IS NOT NULL LIMIT 1
), levels AS (
  SELECT side, CASE WHEN side = 'f' THEN fd ELSE bd END AS depth, nodes, parents, edges
  FROM search WHERE side IS NOT NULL
), walk(side, depth, node, edge) AS (
  SELECT 'f', mf, meet, NULL::ag_catalog.graphid FROM final WHERE status = 'met'
  UNION ALL
  SELECT 'b', mb, meet, NULL::ag_catalog.graphid FROM final WHERE status = 'met'
  UNION ALL
  SELECT w.side, w.depth - 1, l.parents[i.at], l.edges[i.at]
  FROM walk w JOIN levels l ON l.side = w.side AND l.depth = w.depth
  CROSS JOIN LATERAL (SELECT array_position(l.nodes, w.node) AS at) i
  WHERE w.depth > 0
)
SELECT 'n', w.side, w.depth, {node_columns}, NULL::text FROM walk w JOIN {vertices} v ON v.id = w.node
UNION ALL
SELECT 'e', w.side, w.depth, x.id::text, x.start_id::text, x.end_id::text, {edge_props}
FROM walk w JOIN {edges} x ON x.id = w.edge
UNION ALL
SELECT 's', (SELECT status FROM final), NULL, (SELECT s::text FROM ends), (SELECT t::text FROM ends),
       (SELECT max(work)::text FROM search), {version}
"""


class PathMixin(TraversalMixin):
    """``shortest_path`` as one bidirectional-search statement (see the module docstring)."""

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
        def build() -> sql.Composable:
            return sql.SQL(_SEARCH).format(
                find_s=self._find_named(source, "s"),
                find_t=self._find_named(target, "t"),
                fsteps=self._steps(direction, types),
                bsteps=self._steps(_REVERSE[direction], types),
                node_columns=self._node_columns("v", properties),
                vertices=self._vertices(),
                edges=self._table("_ag_label_edge"),
                edge_props=sql.SQL("x.properties::text") if properties else sql.SQL("NULL::text"),
                version=self._version_sql(),
            )

        key = ("path", source.label, target.label, direction, tuple(types or ()), properties)
        params: dict[str, Any] = {
            "s": json.dumps(source.key),
            "t": json.dumps(target.key),
            "budget": budget,
            "probe": PROBE,
            "max_depth": max_depth,
        }
        rows = self._fetch(self._statement(key, build), params)
        status_row = next(row for row in rows if row[0] == "s")
        _, status, _, start, end, work, version = status_row
        if start is None:
            raise NodeNotFound(f"source node {source.label}:{source.key!r} does not exist in graph {self.graph!r}")
        if end is None:
            raise NodeNotFound(f"target node {target.label}:{target.key!r} does not exist in graph {self.graph!r}")
        catalogue = self._check_version(version, [source.label, target.label], types or ())
        if status == "cap":
            raise TraversalTooLarge(
                f"shortest_path would follow more than {budget:,} edges (STRATA_GRAPH_MAX_WORK); "
                "narrow it: fewer edge types, a smaller max_depth, or other endpoints"
            )
        if status != "met":
            return None
        return self._assemble(rows, catalogue, properties)

    def _assemble(self, rows: list[tuple], catalogue: Any, properties: bool) -> Path:
        """Path from the walk's rows: the forward side from the source up to the meeting node,
        then the backward side from the meeting node down to the target."""
        node_rows = [row for row in rows if row[0] == "n"]
        nodes = self._nodes([row[3:6] for row in node_rows], catalogue, properties)
        by_id = {row[3]: node for row, node in zip(node_rows, nodes, strict=True)}
        place = {(row[1], row[2]): row[3] for row in node_rows}
        forward = sorted(depth for side, depth in place if side == "f")
        backward = sorted((depth for side, depth in place if side == "b"), reverse=True)
        order = [place[("f", d)] for d in forward] + [place[("b", d)] for d in backward[1:]]
        edge_rows = {(row[1], row[2]): row for row in rows if row[0] == "e"}
        chain = [edge_rows[("f", d)] for d in forward[:-1]] + [edge_rows[("b", d)] for d in backward[1:]]
        parsed = parse_many([row[6] for row in chain]) if properties else [{} for _ in chain]
        edges = [
            Edge(catalogue.label_of(eid) or "", by_id[start].ref, by_id[end].ref, props)
            for (_, _, _, eid, start, end, _), props in zip(chain, parsed, strict=True)
        ]
        return Path(nodes=[by_id[graph_id] for graph_id in order], edges=edges)

    def _find_named(self, ref: NodeRef, name: str) -> sql.Composable:
        """``SELECT id`` of ``ref`` with the key as the named parameter ``name``."""
        return sql.SQL("SELECT id FROM {} WHERE {} = %({})s::text::ag_catalog.agtype").format(
            self._table(ref.label), self._key_of(), sql.SQL(name)
        )
