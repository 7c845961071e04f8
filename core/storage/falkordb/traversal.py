"""Traversals of the FalkorDB graph: a breadth-first walk, one query per level over internal node
ids, never ``[*1..k]`` variable-length patterns (FalkorDB 4 silently dropped nodes reached by
converging paths with ``RETURN DISTINCT``, upstream issue #2157). Ordering by (depth, label,
key) happens here, in code-point order.

The first level is found together with the start node (one query for ``neighbours``), each step
returns the reached nodes' ids, labels and keys (and properties only when asked), so no call
looks nodes up by id afterwards. Shortest paths share ``graph_search.BidirectionalSearch``:
per level one query counting both frontiers' edges and one expanding the cheaper side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.storage.falkordb import values
from core.storage.falkordb.base import FalkorBase, quoted
from core.storage.graph_search import BidirectionalSearch, WorkExceeded
from core.storage.ports import Edge, Hop, InvalidInput, Node, NodeNotFound, NodeRef, Page, Path, Subgraph
from core.storage.ports.errors import TraversalTooLarge

_REVERSE = {"out": "in", "in": "out", "both": "both"}
Found = dict[int, Node]  # node id -> node


def _pattern(direction: str, types: Sequence[str] | None, a: str = "a", b: str = "b", r: str = "r") -> str:
    """``(a)-[r:T1|T2]->(b)`` walking ``direction`` from ``a``."""
    kinds = ":" + "|".join(quoted(name) for name in types) if types else ""
    if direction == "out":
        return f"({a})-[{r}{kinds}]->({b})"
    if direction == "in":
        return f"({a})<-[{r}{kinds}]-({b})"
    return f"({a})-[{r}{kinds}]-({b})"


def _returned(properties: bool, b: str = "b") -> str:
    """What a step returns of each reached node ``b``."""
    return f"id({b}), labels({b})[0], {b}.key" + (f", properties({b})" if properties else "")


def _node(row: Sequence[Any], properties: bool) -> Node:
    """A node from ``(id, label, key[, properties])``."""
    key = row[2]
    props = values.decode(row[3]) if properties and row[3] is not None else {}
    return Node(row[1] or "", "" if key is None else str(key), props)


class TraversalMixin(FalkorBase):
    def _first_level(
        self, ref: NodeRef, direction: str, types: Sequence[str] | None, properties: bool
    ) -> tuple[int, Found]:
        """The start's id and its neighbours, in one query (NodeNotFound without a start)."""
        rows = self._rows(
            f"MATCH (a:{quoted(ref.label)} {{key: $key}}) OPTIONAL MATCH {_pattern(direction, types)} "
            f"RETURN DISTINCT id(a), {_returned(properties)}",
            {"key": ref.key},
        )
        if not rows:
            raise NodeNotFound(f"start node {ref.label}:{ref.key!r} does not exist in graph {self.graph!r}")
        return rows[0][0], {row[1]: _node(row[1:], properties) for row in rows if row[1] is not None}

    def _level(self, frontier: Sequence[int], direction: str, types: Sequence[str] | None, properties: bool) -> Found:
        """Every node one step from the frontier."""
        if not frontier:
            return {}
        rows = self._rows(
            f"UNWIND $ids AS i MATCH (a) WHERE id(a) = i MATCH {_pattern(direction, types)} "
            f"RETURN DISTINCT {_returned(properties)}",
            {"ids": list(frontier)},
        )
        return {row[0]: _node(row, properties) for row in rows}

    def _walk(
        self, ref: NodeRef, depth: int, direction: str, types: Sequence[str] | None, properties: bool
    ) -> tuple[int, dict[int, tuple[int, Node]]]:
        """The start's id and every node within ``depth`` edges -> (shortest depth, node)."""
        start, reached = self._first_level(ref, direction, types, properties)
        seen: dict[int, tuple[int, Node]] = {}
        level = 1
        while True:
            fresh = sorted(i for i in reached if i != start and i not in seen)
            for i in fresh:
                seen[i] = (level, reached[i])
            if not fresh or level == depth:
                return start, seen
            level += 1
            reached = self._level(fresh, direction, types, properties)

    @staticmethod
    def _ordered(seen: dict[int, tuple[int, Node]], limit: int | None) -> list[tuple[int, Node, int]]:
        rows = sorted(((d, node, i) for i, (d, node) in seen.items()), key=lambda r: (r[0], r[1].label, r[1].key))
        return rows if limit is None else rows[:limit]

    def _do_neighbours(
        self, ref: NodeRef, direction: str, types: list[str] | None, limit: int | None, properties: bool
    ) -> list[Node]:
        _, reached = self._first_level(ref, direction, types, properties)
        nodes = sorted(reached.values(), key=lambda node: (node.label, node.key))
        return nodes if limit is None else nodes[:limit]

    def _do_neighbours_page(
        self, ref: NodeRef, direction: str, types: list[str] | None, after: str | None, limit: int, properties: bool
    ) -> Page[Node]:
        if after is not None and not (after.isascii() and after.isdigit()):
            raise InvalidInput(f"after must be the next_cursor of a previous page of this store, got {after!r}")
        rows = self._rows(
            f"MATCH (a:{quoted(ref.label)} {{key: $key}}) OPTIONAL MATCH {_pattern(direction, types)} "
            f"WHERE id(b) > $after RETURN DISTINCT {_returned(properties)} ORDER BY id(b) LIMIT $limit",
            {"key": ref.key, "after": -1 if after is None else int(after), "limit": limit + 1},
        )
        if not rows:
            raise NodeNotFound(f"start node {ref.label}:{ref.key!r} does not exist in graph {self.graph!r}")
        rows = [row for row in rows if row[0] is not None]
        items = [_node(row, properties) for row in rows[:limit]]
        return Page(items=items, next_cursor=str(rows[limit - 1][0]) if len(rows) > limit else None)

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
        _, seen = self._walk(ref, k, direction, types, properties)
        if last_labels is not None:
            kept = set(last_labels)
            seen = {i: (d, node) for i, (d, node) in seen.items() if d < k or node.label in kept}
        return [Hop(node, depth) for depth, node, _ in self._ordered(seen, limit)]

    def _do_subgraph(
        self, ref: NodeRef, depth: int, direction: str, types: list[str] | None, limit: int, properties: bool
    ) -> Subgraph:
        start, seen = self._walk(ref, depth, direction, types, properties)
        chosen = self._ordered(seen, limit - 1)
        first = self._rows(f"MATCH (n) WHERE id(n) = $id RETURN {_returned(properties, 'n')}", {"id": start})
        nodes = {start: _node(first[0], properties), **{i: node for _, node, i in chosen}}
        ids = list(nodes)
        returned = ", properties(r)" if properties else ""
        rows = self._rows(
            f"UNWIND $ids AS i MATCH (a) WHERE id(a) = i MATCH {_pattern('out', types)} "
            f"WHERE id(b) IN $ids RETURN type(r), id(a), id(b){returned}",
            {"ids": ids},
        )
        edges = [
            Edge(row[0], nodes[row[1]].ref, nodes[row[2]].ref, values.decode(row[3]) if properties else {})
            for row in rows
        ]
        edges.sort(key=lambda e: (e.type, e.source.label, e.source.key, e.target.label, e.target.key))
        return Subgraph(nodes=list(nodes.values()), edges=edges)

    # ------------------------------------------------------------ shortest path

    def _step(
        self, frontier: Sequence[int], direction: str, types: Sequence[str] | None, limit: int | None
    ) -> list[tuple[int, int, int]]:
        """(from id, to id, edge id) of the steps leaving the frontier (at most ``limit``)."""
        if not frontier:
            return []
        cap = "" if limit is None else " LIMIT $limit"
        rows = self._rows(
            f"UNWIND $ids AS i MATCH (a) WHERE id(a) = i MATCH {_pattern(direction, types)} "
            f"RETURN id(a), id(b), id(r){cap}",
            {"ids": list(frontier), "limit": limit},
        )
        return sorted((a, b, r) for a, b, r in rows)

    def _degrees(
        self, forward: Sequence[int], backward: Sequence[int], direction: str, types: Sequence[str] | None
    ) -> tuple[int, int]:
        """The number of edges leaving each frontier, in one query."""
        rows = self._rows(
            f"UNWIND $f AS i MATCH (a) WHERE id(a) = i OPTIONAL MATCH {_pattern(direction, types)} "
            f"WITH count(r) AS forward UNWIND $b AS j MATCH (c) WHERE id(c) = j "
            f"OPTIONAL MATCH {_pattern(_REVERSE[direction], types, 'c', 'd', 's')} RETURN forward, count(s)",
            {"f": list(forward), "b": list(backward)},
        )
        return (rows[0][0], rows[0][1]) if rows else (0, 0)

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
        start, end = self._node_id(source, "source node"), self._node_id(target, "target node")
        search = BidirectionalSearch(
            lambda frontier, forward, limit: self._step(
                frontier, direction if forward else _REVERSE[direction], types, limit
            ),
            degrees=lambda forward, backward: self._degrees(forward, backward, direction, types),
            budget=budget,
        )
        try:
            found = search.run(start, end, max_depth)
        except WorkExceeded:
            raise TraversalTooLarge(
                f"shortest_path would follow more than {budget:,} edges (STRATA_GRAPH_MAX_WORK); "
                "narrow it: fewer edge types, a smaller max_depth, or other endpoints"
            ) from None
        if found is None:
            return None
        node_ids, edge_ids = found
        rows = self._rows(
            f"UNWIND $ids AS i MATCH (n) WHERE id(n) = i RETURN {_returned(properties, 'n')}", {"ids": node_ids}
        )
        nodes = {row[0]: _node(row, properties) for row in rows}
        triples = [[node_ids[i], node_ids[i + 1], edge_ids[i]] for i in range(len(edge_ids))]
        returned = ", properties(r)" if properties else ""
        rows = self._rows(
            "UNWIND $steps AS s MATCH (a) WHERE id(a) = s[0] MATCH (a)-[r]-(b) WHERE id(r) = s[2] AND id(b) = s[1] "
            f"RETURN id(r), type(r), id(startNode(r)), id(endNode(r)){returned}",
            {"steps": triples},
        )
        edges = {
            row[0]: Edge(row[1], nodes[row[2]].ref, nodes[row[3]].ref, values.decode(row[4]) if properties else {})
            for row in rows
        }
        return Path(nodes=[nodes[i] for i in node_ids], edges=[edges[i] for i in edge_ids])

    def _refs_by_id(self, ids: Sequence[int] | set[int]) -> dict[int, NodeRef]:
        rows = self._rows(
            "UNWIND $ids AS i MATCH (n) WHERE id(n) = i RETURN id(n), labels(n)[0], n.key", {"ids": list(ids)}
        )
        return {node_id: NodeRef(label, "" if key is None else str(key)) for node_id, label, key in rows}
